import ArgumentParser
import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import GlassboxScan
#if canImport(Glibc)
import Glibc
#endif

// What every command shares, and all that verify-release needs besides the core: exit codes,
// the error voice, bounded reads, atomic writes, safe terminal output.

/// Exit codes shared by every command.
package enum Exit {
    package static let verified: Int32 = 0
    package static let failed: Int32 = 1
    package static let badInput: Int32 = 2
    package static let usage: Int32 = 64
}

/// An error the user can act on: what went wrong and, where one helps, what to do.
package struct UserError: Error {
    package var message: String
    package var hint: String?
    package init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}

/// Writes `text` to standard error, made safe for a terminal (`Display.text`): messages carry
/// paths, names and lines from hostile input.
package func printError(_ text: String) {
    FileHandle.standardError.write(Data(Display.text(text).utf8))
}

/// Writes `text` to standard output, made safe for a terminal (`Display.text`).
package func say(_ text: String) {
    FileHandle.standardOutput.write(Data(Display.text(text).utf8))
}

/// Runs a command body, turning every thrown error into `glassbox: error: …` (and a hint),
/// exit 2. The body returns the exit code for outcomes that ran to the end.
package func runReporting(_ body: () throws -> Int32) throws {
    let code: Int32
    do {
        code = try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let (message, hint) = describe(error)
        printError("glassbox: error: \(message)\n")
        if let hint { printError("glassbox: hint: \(hint)\n") }
        throw ExitCode(Exit.badInput)
    }
    if code != 0 { throw ExitCode(code) }
}

private func describe(_ error: Error) -> (String, String?) {
    switch error {
    case let e as UserError: return (e.message, e.hint)
    case let e as GitError:
        let hint: String? = e.function == "git_revparse_ext"
            ? "list revisions with `git -C REPO tag` or `git -C REPO log --oneline`"
            : e.function == "git archive settings"
            ? "--archive stands for what `git archive` writes here; remove the setting (or the line) named above, and git archive and Glassbox agree again"
            : nil
        return (e.description, hint)
    case let e as ReadError: return (e.description, nil)
    case let e as CryptoError: return (e.description, nil)
    case let e as FileError: return (e.description, nil)
    default: return ("\(error)", nil)
    }
}

/// A file could not be read or written.
package struct FileError: Error, CustomStringConvertible {
    package var path: String
    package var message: String
    package var description: String { "\(path): \(message)" }
    package init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// Reads a whole file of at most `limit` bytes, checking its size before reading and never
/// reading more than `limit + 1` bytes, so a huge or growing file cannot exhaust memory.
package func readFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let reason = errno == ENOENT ? "no such file" : "cannot be read: \(String(cString: strerror(errno)))"
        throw FileError(path: path, message: reason)
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw FileError(path: path, message: "cannot be read") }
    switch st.st_mode & S_IFMT {
    case S_IFDIR: throw FileError(path: path, message: "is a directory")
    case S_IFREG:
        if st.st_size > limit { throw FileError(path: path, message: "is \(st.st_size) bytes; at most \(limit) are read") }
    default: break   // a pipe or a terminal: the read below is bounded all the same
    }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FileError(path: path, message: "cannot be read: \(String(cString: strerror(errno)))")
        }
        if count == 0 { return out }
        out += chunk[0..<count]
        if out.count > limit { throw FileError(path: path, message: "is more than \(limit) bytes; at most \(limit) are read") }
    }
}

/// Writes `bytes` to `path` (see `writeStreaming`); `nil` or `-` means standard output.
package func writeOutput(_ bytes: [UInt8], to path: String?, mode: Int = 0o644) throws {
    try writeStreaming(to: path, mode: mode) { sink in try sink(bytes) }
}

/// Streams chunks to `path` by the rules of `OutputFile.write`: a regular file is replaced
/// atomically keeping its mode, a symlink is followed and kept, a device is written through.
/// `nil` or `-` means standard output.
package func writeStreaming(to path: String?, mode: Int = 0o644, _ produce: (([UInt8]) throws -> Void) throws -> Void) throws {
    guard let path, path != "-" else {
        try produce { FileHandle.standardOutput.write(Data($0)) }
        return
    }
    try OutputFile.write(to: path, mode: UInt32(mode), produce)
}


/// Progress on stderr, only when stderr is a terminal.
package enum Progress {
    package static func handler() -> ProgressHandler? {
        guard isatty(2) == 1 else { return nil }
        return { done, total in printError("\rglassbox: hashed \(done) of \(counting(total, "file"))") }
    }

    /// For a tarball: bytes of the archive read, of its size.
    package static func byteHandler() -> ProgressHandler? {
        guard isatty(2) == 1 else { return nil }
        return { done, total in printError("\rglassbox: read \(done >> 20) of \(total >> 20) MiB of the tarball") }
    }

    package static func finish() {
        if isatty(2) == 1 { printError("\r\u{1B}[K") }
    }
}

/// JSON with sorted keys and no escaped slashes, so the same input gives the same bytes.
package func renderJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return [UInt8](try encoder.encode(value)) + [0x0A]
}

/// A path as shown to people and in JSON: the manifest's escaped form, so every byte is visible.
package func shown(_ path: [UInt8]) -> String { Escaping.escape(path) }

/// Today's date in UTC as YYYY-MM-DD, the day trust-policy validity dates are checked against.
package func todayUTC() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date())
}


/// Reads a trust policy, naming the file and line in any error.
package func loadPolicy(_ path: String) throws -> TrustPolicy {
    guard let text = String(validating: try readFile(path, limit: 1 << 20), as: UTF8.self) else {
        throw UserError("\(path): a trust policy is UTF-8 text")
    }
    do {
        return try TrustPolicy(parsing: text)
    } catch let error as FormatError {
        throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                        hint: "the policy format: `glassbox help policy` or `verify-release --help-topic policy`; `glassbox trust init` writes one")
    }
}

/// Reads a reviewed scan exceptions file, naming the file and line in any error.
package func loadScanExceptions(_ path: String) throws -> ScanExceptions {
    do {
        return try ScanExceptions(parsing: try readFile(path, limit: ScanExceptions.maxSize), source: path)
    } catch let error as TriageError {
        throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                        hint: "the exceptions format: `glassbox help policy`; `glassbox scan --json` prints each finding's fingerprint")
    }
}

package func parseVKey(_ text: String, _ file: String) throws -> VerifierKey {
    do { return try VerifierKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
        throw UserError("\(file):1: \(error)")
    }
}

/// `--tarball T [--strip-components N]`: the same two options, checked the same way, in every
/// command that reads a tree.
package struct TarballOptions: ParsableArguments {
    @Option(name: .long, help: "A release tarball (.tar, .tar.gz, .tar.xz, .tar.bz2, .tar.zst), read as it is, never unpacked.", completion: .file(extensions: ["tar", "gz", "tgz", "xz", "bz2", "zst"]))
    package var tarball: String?

    @Option(name: .long, help: "With --tarball: leading path components to strip (default: a single top-level directory).")
    package var stripComponents: Int?

    package init() {}

    package func validate() throws {
        if stripComponents != nil && tarball == nil { throw ValidationError("--strip-components goes with --tarball") }
        if let stripComponents, stripComponents < 0 { throw ValidationError("--strip-components must be 0 or more") }
    }

    /// The tarball as a tree to read, when one was given.
    package var location: TreeLocation? { tarball.map { .tarball($0, stripComponents: stripComponents) } }
}

/// `--color auto|always|never`, the same in every command that prints a report.
package enum ColorChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, always, never

    /// Whether output goes in colour: `always` and `never` say so; `auto` colours only a
    /// terminal, and not when `NO_COLOR` is set to anything but the empty string
    /// (https://no-color.org: "when present and not an empty string"). `always` overrides it.
    package func enabled(isTerminal: Bool, environment: [String: String]) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto: return isTerminal && (environment["NO_COLOR"] ?? "").isEmpty
        }
    }
}

/// The `--color` option: a group, so each command adds it in one line.
package struct ColorOptions: ParsableArguments {
    @Option(name: .long, help: "Colour the verdict and severities: auto (only on a terminal, and not when NO_COLOR is set), always, never.")
    package var color: ColorChoice = .auto

    package init() {}

    /// Whether standard output gets colour.
    package var painter: Painter {
        Painter(enabled: color.enabled(isTerminal: isatty(1) == 1, environment: ProcessInfo.processInfo.environment))
    }
}

/// Puts SGR colour codes of our own around text that is already safe for a terminal
/// (`Display.text`), or leaves it as it is. Text from input is made safe first, so no escape
/// from input ever reaches the terminal, coloured or not.
package struct Painter: Sendable {
    package let enabled: Bool
    package init(enabled: Bool) { self.enabled = enabled }

    package static let green = "32", red = "31", yellow = "33", bold = "1"

    package func paint(_ safe: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(safe)\u{1B}[0m" : safe
    }

    /// A verdict: green when it passed, red when it did not.
    package func verdict(_ safe: String, passed: Bool) -> String { paint(safe, passed ? Painter.green : Painter.red) }

    /// A scan severity: error red, warning yellow, note as it is.
    package func severity(_ safe: String, _ severity: String) -> String {
        switch severity {
        case "error", "failure": return paint(safe, Painter.red)
        case "warning": return paint(safe, Painter.yellow)
        default: return safe
        }
    }
}

/// Writes a report whose first line is its verdict to standard output: the whole text made
/// safe for a terminal, then the verdict line coloured when `painter` says so, and with
/// `severityHeadings` the report's own unindented `error (N):` and `warning (N):` lines (a
/// line from input is always indented, so it cannot pass for one).
package func sayReport(_ text: String, passed: Bool, _ painter: Painter, severityHeadings: Bool = false) {
    var lines = Display.text(text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard painter.enabled, !lines.isEmpty else {
        FileHandle.standardOutput.write(Data(lines.joined(separator: "\n").utf8))
        return
    }
    lines[0] = painter.verdict(lines[0], passed: passed)
    if severityHeadings {
        for i in lines.indices.dropFirst() {
            for severity in ["error", "warning"] where lines[i].hasPrefix(severity + " (") {
                lines[i] = painter.severity(lines[i], severity)
            }
        }
    }
    FileHandle.standardOutput.write(Data(lines.joined(separator: "\n").utf8))
}

/// A `--dir` argument that names a regular file is refused with the option meant for it: a
/// tarball is read as it is with `--tarball`, never unpacked.
package func checkDirectoryArgument(_ path: String) throws {
    var st = stat()
    guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
    throw UserError("\(path): is a file, not a directory",
                    hint: "to check a release tarball as it is, give --tarball \(path) instead of --dir")
}

/// The start of every offline page the tools write, up to `<body>`: one inline style sheet
/// (the rules all pages share, then `style`), no script, no external resource, and a
/// Content-Security-Policy that forbids both, so even a mistake in escaping could not run code
/// or reach the network.
package func htmlPageStart(title: String, style: String) -> String {
    """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
    <title>\(escapeHTML(title))</title>
    <style>
    body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f24;max-width:1200px}
    h2{font-size:1.15em;margin-top:1.6em}
    table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;text-align:left}
    code,pre{font-family:ui-monospace,monospace;font-size:13px}
    .hid{background:#ffd33d;color:#1b1f24;border:1px solid #9a6700;border-radius:3px;padding:0 2px;font-weight:600}
    \(style)
    </style></head><body>

    """
}

/// Text for HTML: every character that could open markup or an attribute is an entity.
package func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// Text for HTML with every hidden character (bidi control, invisible, control character,
/// look-alike letter in an ASCII identifier) a highlighted `⟨U+XXXX⟩` whose title names it:
/// the page never carries the character itself, so it cannot reorder or hide what is around it.
package func visibleHTML<S: StringProtocol>(_ text: S) -> String {
    VisibleText.pieces(Substring(text)).map { piece in
        switch piece {
        case let .text(text): return escapeHTML(text)
        case let .hidden(scalar, reason):
            return "<mark class=\"hid \(reason.rawValue)\" title=\"\(escapeHTML(VisibleText.describe(scalar, reason)))\">\(VisibleText.escape(scalar))</mark>"
        }
    }.joined()
}

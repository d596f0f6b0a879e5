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
            ? "list revisions with `git -C REPO tag` or `git -C REPO log --oneline`" : nil
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
        return { done, total in printError("\rglassbox: hashed \(done) of \(total) files") }
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

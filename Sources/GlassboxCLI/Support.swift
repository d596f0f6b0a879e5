import ArgumentParser
import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes shared by every command.
enum Exit {
    static let verified: Int32 = 0
    static let failed: Int32 = 1
    static let badInput: Int32 = 2
    static let usage: Int32 = 64
}

/// An error the user can act on: what went wrong and, where one helps, what to do.
struct UserError: Error {
    var message: String
    var hint: String?
    init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}

/// Writes `text` to standard error, made safe for a terminal (`Display.text`): messages carry
/// paths, names and lines from hostile input.
func printError(_ text: String) {
    FileHandle.standardError.write(Data(Display.text(text).utf8))
}

/// Writes `text` to standard output, made safe for a terminal (`Display.text`).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data(Display.text(text).utf8))
}

/// Runs a command body, turning every thrown error into `glassbox: error: …` (and a hint),
/// exit 2. The body returns the exit code for outcomes that ran to the end.
func runReporting(_ body: () throws -> Int32) throws {
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
struct FileError: Error, CustomStringConvertible {
    var path: String
    var message: String
    var description: String { "\(path): \(message)" }
}

/// Reads a whole file of at most `limit` bytes, checking its size before reading and never
/// reading more than `limit + 1` bytes, so a huge or growing file cannot exhaust memory.
func readFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
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
func writeOutput(_ bytes: [UInt8], to path: String?, mode: Int = 0o644) throws {
    try writeStreaming(to: path, mode: mode) { sink in try sink(bytes) }
}

/// Streams chunks to `path` by the rules of `OutputFile.write`: a regular file is replaced
/// atomically keeping its mode, a symlink is followed and kept, a device is written through.
/// `nil` or `-` means standard output.
func writeStreaming(to path: String?, mode: Int = 0o644, _ produce: (([UInt8]) throws -> Void) throws -> Void) throws {
    guard let path, path != "-" else {
        try produce { FileHandle.standardOutput.write(Data($0)) }
        return
    }
    try OutputFile.write(to: path, mode: UInt32(mode), produce)
}

/// Reads a manifest line by line, naming the file in any error. With `onEntry`, entries are
/// streamed to it instead of kept.
func loadManifest(_ path: String, onEntry: ((TreeEntry) throws -> Void)? = nil) throws -> Manifest {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw FileError(path: path, message: "no such file")
    }
    guard !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
        throw FileError(path: path, message: isDirectory.boolValue ? "is a directory" : "cannot be read")
    }
    defer { try? handle.close() }
    var lines = FileLines(handle)
    do {
        return try Manifest.parse(lines: &lines, onEntry: onEntry)
    } catch let error as FormatError {
        let location = error.line.map { "\(path):\($0)" } ?? path
        throw UserError("\(location): \(error.message)",
                        hint: "a manifest is described byte by byte in Manifests/FORMAT.md")
    }
}

/// Reads only a manifest's header (its note text): enough to know which release it names.
func loadManifestHeader(_ path: String) throws -> ReleaseHeader {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw FileError(path: path, message: "cannot be read") }
    defer { try? handle.close() }
    var lines = FileLines(handle)
    var text: [UInt8] = []
    do {
        while let line = try lines.nextLine(), !line.isEmpty, text.count < 1 << 20 {
            text += line
            text.append(0x0A)
        }
        if text.isEmpty { throw FormatError(line: nil, "the file is empty") }
        return try Manifest.parseNoteText(text).header
    } catch let error as FormatError {
        throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                        hint: "a manifest is described byte by byte in Manifests/FORMAT.md")
    }
}

/// Compares a tree with a manifest, streaming the manifest's entries: memory holds the tree,
/// not the manifest.
func compareWithManifest(_ path: String, actual: [TreeEntry]) throws -> (Manifest, [Difference]) {
    var comparer = TreeComparer(actual: actual)
    let manifest = try loadManifest(path) { comparer.expect($0) }
    return (manifest, comparer.finish())
}

/// Where the tree to read comes from: `--repo R [--rev REV]` or `--dir D`.
struct SourceOptions: ParsableArguments {
    @Option(name: .long, help: "A git repository (bare or not); read from its object database, never checked out.")
    var repo: String?

    @Option(name: .long, help: "The revision to read: tag, branch, or full or abbreviated commit id.")
    var rev: String?

    @Option(name: .long, help: "A directory to read (an unpacked tarball, a checkout, a review-room copy); the root's own .git is skipped; a .git below it is an error.")
    var dir: String?

    @Option(name: .long, help: "Worker threads for reading and hashing (default: one per core).")
    var workers: Int?

    @Flag(name: .long, help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        if (repo == nil) == (dir == nil) {
            throw ValidationError("give exactly one of --repo or --dir")
        }
        if dir != nil && rev != nil { throw ValidationError("--rev goes with --repo, not --dir") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    /// What was read, before it becomes a manifest.
    struct Snapshot {
        var entries: [TreeEntry]
        var source: ReleaseSource
        var defaultName: String
        var defaultVersion: String
    }

    /// Reads the tree. `fallbackRevision` is used when `--rev` is absent; `inspect` sees every
    /// path's content in the same pass.
    func read(fallbackRevision: String = "HEAD", inspect: ContentInspector? = nil) throws -> Snapshot {
        let progress = quiet ? nil : Progress.handler()
        defer { if progress != nil { Progress.finish() } }
        let workerCount = workers ?? defaultWorkerCount
        if let repo {
            let snapshot = try GitReader.read(repositoryPath: repo, revision: rev ?? fallbackRevision,
                                              workers: workerCount, progress: progress, inspect: inspect)
            let r = snapshot.revision
            var version = String(r.commit.prefix(12))
            if let tag = r.tagName, let text = String(validating: tag, as: UTF8.self) {
                version = text
                if version.count > 1, version.first == "v", version.dropFirst().first?.isNumber == true {
                    version.removeFirst()
                }
            }
            return Snapshot(entries: snapshot.entries,
                            source: .git(commit: r.commit, tree: r.tree, tagName: r.tagName, tagObject: r.tagObject),
                            defaultName: r.repositoryName, defaultVersion: version)
        }
        let path = dir!
        let tree = try DirectoryReader.readTree(root: path, workers: workerCount, progress: progress, inspect: inspect)
        if let nested = tree.nestedGit.first {
            throw UserError("\(path): \(shown(nested)) is git's data below the tree's root; no release tree can hold it",
                            hint: "remove it, or read a checkout with submodules from its repository with --repo")
        }
        let entries = tree.entries
        let name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        return Snapshot(entries: entries, source: .directory, defaultName: name.isEmpty ? "release" : name,
                        defaultVersion: "unversioned")
    }
}

/// Progress on stderr, only when stderr is a terminal.
enum Progress {
    static func handler() -> ProgressHandler? {
        guard isatty(2) == 1 else { return nil }
        return { done, total in printError("\rglassbox: hashed \(done) of \(total) files") }
    }

    static func finish() {
        if isatty(2) == 1 { printError("\r\u{1B}[K") }
    }
}

/// JSON with sorted keys and no escaped slashes, so the same input gives the same bytes.
func renderJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return [UInt8](try encoder.encode(value)) + [0x0A]
}

/// A path as shown to people and in JSON: the manifest's escaped form, so every byte is visible.
func shown(_ path: [UInt8]) -> String { Escaping.escape(path) }

/// Today's date in UTC as YYYY-MM-DD, the day trust-policy validity dates are checked against.
func todayUTC() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withFullDate]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date())
}

/// A passphrase file's first line.
func readPassphrase(_ path: String?) throws -> [UInt8]? {
    guard let path else { return nil }
    let bytes = try readFile(path)
    return Array(bytes.prefix { $0 != 0x0A && $0 != 0x0D })
}

/// Reads a trust policy, naming the file and line in any error.
func loadPolicy(_ path: String) throws -> TrustPolicy {
    guard let text = String(validating: try readFile(path, limit: 1 << 20), as: UTF8.self) else {
        throw UserError("\(path): a trust policy is UTF-8 text")
    }
    do {
        return try TrustPolicy(parsing: text)
    } catch let error as FormatError {
        throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                        hint: "the policy format is in Manifests/FORMAT.md; `glassbox trust init` writes one")
    }
}


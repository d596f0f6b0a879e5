import Foundation
import GlassboxCrypto
import GlassboxGit

/// A rebuild could not be done here; nothing was compared. Exit 2: the recipe is malformed, a
/// package has another version, the sandbox is missing, a run line failed.
public struct RebuildError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { message }
}

/// One artifact of a rebuild, as compared with the signed one.
public struct RebuiltArtifact: Sendable, Encodable {
    public enum Status: String, Sendable, Encodable {
        /// The build wrote exactly the signed bytes.
        case reproduced
        /// The build wrote other bytes.
        case differs
        /// The recipe names it, but the build did not write it as a regular file.
        case missing
        /// The recipe names it, but the manifest signs no artifact of that name.
        case unsigned
        /// The build wrote it, but the recipe does not name it.
        case unlisted
        /// The manifest signs it, but the recipe does not build it (a source tarball, say):
        /// listed, not compared, and so not reproduced: a failure, unless the reviewer accepts
        /// a partial rebuild with `--allow-not-rebuilt-unsafe`, which the verdict then names.
        case notRebuilt = "not-rebuilt"
    }

    /// The name, escaped as in a manifest.
    public var name: String
    public var status: Status
    /// The recipe's `artifact` line naming it, if one does.
    public var recipeLine: Int?
    public var signedSHA256: String?
    public var signedSize: UInt64?
    public var rebuiltSHA256: String?
    public var rebuiltSize: UInt64?
    /// The first byte offset at which the two differ (the shorter length when one is a prefix).
    public var firstDifferingOffset: UInt64?
    /// Common causes the difference matches, in words (see `Rebuild.likelyCauses`).
    public var likelyCauses: [String] = []
    /// diffoscope's text report, when it was run.
    public var diffoscope: String?

    /// Whether this artifact was rebuilt and matched: the only status that lets a rebuild
    /// be called reproduced.
    public var reproduced: Bool { status == .reproduced }
}

/// The rebuild's environment and comparison. The command line runs the steps; these decide.
public enum Rebuild {
    /// Where the sandbox mounts the build directory, and what it holds.
    public static let root = "/build"

    /// The whole environment of every recipe line: nothing of the caller's leaks in.
    public static func environment(sourceDateEpoch: UInt64) -> [(String, String)] {
        [("OUT", root + "/out"), ("HOME", root + "/home"), ("SOURCE_DATE_EPOCH", String(sourceDateEpoch)),
         ("TZ", "UTC"), ("LC_ALL", "C.UTF-8"), ("PATH", "/usr/bin:/bin")]
    }

    /// Compares what the build wrote (`outputs`, read from `$OUT`) with the recipe's artifacts
    /// and the signed ones. Every output the recipe does not name is `unlisted`.
    public static func compare(recipe: Recipe, signed: [Artifact], outputs: [TreeEntry]) -> [RebuiltArtifact] {
        var out: [RebuiltArtifact] = []
        for name in recipe.artifacts {
            let listed = signed.first { $0.name == name }
            var item = RebuiltArtifact(name: Escaping.escape(name), status: .missing, recipeLine: recipe.artifactLines[name],
                                       signedSHA256: listed.map { hex($0.sha256) }, signedSize: listed?.size)
            if let written = outputs.first(where: { $0.path == name }), written.kind.isRegularFile {
                item.rebuiltSHA256 = hex(written.digest)
                item.rebuiltSize = written.size
                if let listed {
                    item.status = listed.size == written.size && constantTimeEquals(listed.sha256, written.digest) ? .reproduced : .differs
                } else {
                    item.status = .unsigned
                }
            } else if listed == nil {
                item.status = .unsigned
            }
            out.append(item)
        }
        for written in outputs where !recipe.artifacts.contains(written.path) {
            out.append(RebuiltArtifact(name: Escaping.escape(written.path), status: .unlisted,
                                       rebuiltSHA256: written.kind.isRegularFile ? hex(written.digest) : nil,
                                       rebuiltSize: written.size))
        }
        for artifact in signed where !recipe.artifacts.contains(artifact.name) {
            out.append(RebuiltArtifact(name: Escaping.escape(artifact.name), status: .notRebuilt,
                                       signedSHA256: hex(artifact.sha256), signedSize: artifact.size))
        }
        return out
    }

    /// The first offset at which `a` and `b` differ, or nil when they are equal.
    public static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> UInt64? {
        let common = min(a.count, b.count)
        var i = 0
        while i < common && a[i] == b[i] { i += 1 }
        return i == common && a.count == b.count ? nil : UInt64(i)
    }

    /// Which common causes of unreproducible builds the difference between the signed bytes
    /// and the rebuilt ones matches. Simple heuristics, each saying what it saw; none proves a
    /// cause, and an empty list means none matched (a changed source is one possibility).
    public static func likelyCauses(signed: [UInt8], rebuilt: [UInt8]) -> [String] {
        guard let offset = firstDifference(signed, rebuilt).map(Int.init) else { return [] }
        var causes: [String] = []
        // What lies around the first difference, in each.
        func window(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
            bytes[max(0, offset - 64)..<min(bytes.count, offset + 64)]
        }
        let near = [window(signed), window(rebuilt)]

        let buildPath = Array((root + "/").utf8)
        let pathCounts = (count(buildPath, in: signed[...]), count(buildPath, in: rebuilt[...]))
        if pathCounts.0 != pathCounts.1 || near.contains(where: { count(buildPath, in: $0) > 0 }) {
            causes.append("an embedded build path: '\(root)/' appears \(pathCounts.0) times in the signed artifact and \(pathCounts.1) in the rebuilt one")
        }
        if near.contains(where: containsTimestamp) {
            causes.append("a timestamp or date string near the first difference (the build may ignore SOURCE_DATE_EPOCH)")
        }
        let modes = ["0000644", "0000664", "0000755", "0000775", "0000600", "0000666", "0000777", "rw-r--r--", "rw-rw-r--", "rwxr-xr-x", "rwxrwxr-x"]
            .map { Array($0.utf8) }
        if modes.contains(where: { mode in near.contains { count(mode, in: $0) > 0 } }) {
            causes.append("file permissions: a mode string near the first difference (umask, or modes in an archive)")
        }
        let names = (archiveMembers(signed), archiveMembers(rebuilt))
        if let a = names.0, let b = names.1, a != b, a.sorted(by: { $0.lexicographicallyPrecedes($1) }) == b.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            causes.append("file order in an archive: the same \(a.count) members in another order")
        } else if signed.count == rebuilt.count, histogram(signed) == histogram(rebuilt) {
            causes.append("file order: the same bytes in another order")
        }
        return causes
    }

    /// How often `needle` occurs in `haystack` (non-overlapping; the needles here are short).
    static func count(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int {
        guard let first = needle.first, haystack.count >= needle.count else { return 0 }
        var found = 0
        var i = haystack.startIndex
        while i <= haystack.endIndex - needle.count {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) {
                found += 1
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }

    /// A clock time `HH:MM:SS`, a date `YYYY-MM-DD`, or a month name followed by a space and a
    /// digit (`Nov 29`, as `date` and `__DATE__` write them).
    static func containsTimestamp(_ bytes: ArraySlice<UInt8>) -> Bool {
        let b = Array(bytes)
        func digit(_ i: Int) -> Bool { i >= 0 && i < b.count && (48...57).contains(b[i]) }
        func byte(_ i: Int, _ c: Character) -> Bool { i >= 0 && i < b.count && b[i] == c.asciiValue! }
        for i in b.indices {
            if digit(i) && digit(i + 1) && byte(i + 2, ":") && digit(i + 3) && digit(i + 4) && byte(i + 5, ":") && digit(i + 6) && digit(i + 7) {
                return true
            }
            if digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3) && byte(i + 4, "-") && digit(i + 5) && digit(i + 6)
                && byte(i + 7, "-") && digit(i + 8) && digit(i + 9) {
                return true
            }
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].map { Array($0.utf8) }
        for month in months {
            var i = 0
            while i + 4 < b.count {
                if b[i..<(i + 3)].elementsEqual(month) && b[i + 3] == 0x20 && (digit(i + 4) || (b[i + 4] == 0x20 && digit(i + 5))) { return true }
                i += 1
            }
        }
        return false
    }

    private static func histogram(_ bytes: [UInt8]) -> [Int] {
        var counts = [Int](repeating: 0, count: 256)
        for b in bytes { counts[Int(b)] += 1 }
        return counts
    }

    /// The member names of a tar (ustar), ar or zip archive in file order, or nil for anything
    /// else. At most 100,000 members are listed; headers are read, never followed backwards.
    static func archiveMembers(_ bytes: [UInt8]) -> [[UInt8]]? {
        let limit = 100_000
        func text(_ slice: ArraySlice<UInt8>) -> [UInt8] { Array(slice.prefix { $0 != 0 }) }
        // ustar: 512-byte headers, "ustar" at 257, the name in the first 100 bytes, the size
        // in octal at 124 (POSIX.1-1988).
        if bytes.count >= 512, bytes[257..<262].elementsEqual("ustar".utf8) {
            var names: [[UInt8]] = []
            var at = 0
            while at + 512 <= bytes.count, bytes[at] != 0, names.count < limit {
                names.append(text(bytes[at..<(at + 100)]))
                let sizeText = String(decoding: text(bytes[(at + 124)..<(at + 136)]), as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard let size = Int(sizeText, radix: 8), size >= 0, size < bytes.count else { return names }
                at += 512 + (size + 511) / 512 * 512
            }
            return names
        }
        // ar: "!<arch>\n", then 60-byte headers: name in 16 bytes, size in decimal at 48.
        if bytes.starts(with: Array("!<arch>\n".utf8)) {
            var names: [[UInt8]] = []
            var at = 8
            while at + 60 <= bytes.count, names.count < limit {
                names.append(Array(bytes[at..<(at + 16)]))
                let sizeText = String(decoding: bytes[(at + 48)..<(at + 58)], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard let size = Int(sizeText), size >= 0, size < bytes.count else { return names }
                at += 60 + size + size % 2
            }
            return names
        }
        // zip: local headers "PK\3\4"; name length at 26, extra length at 28, compressed size at
        // 18 (APPNOTE.TXT 4.3.7).
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            var names: [[UInt8]] = []
            var at = 0
            func le(_ i: Int, _ n: Int) -> Int { (0..<n).reduce(0) { $0 | Int(bytes[i + $1]) << (8 * $1) } }
            while at + 30 <= bytes.count, bytes[at..<(at + 4)].elementsEqual([0x50, 0x4B, 0x03, 0x04]), names.count < limit {
                let nameLength = le(at + 26, 2), extra = le(at + 28, 2), size = le(at + 18, 4)
                guard at + 30 + nameLength <= bytes.count else { break }
                names.append(Array(bytes[(at + 30)..<(at + 30 + nameLength)]))
                at += 30 + nameLength + extra + size
            }
            return names
        }
        return nil
    }
}

/// What a rebuild starts from and how far it may go.
public struct BuildRequest: Sendable {
    /// The tree to build from.
    public var tree: TreeLocation
    /// With git: read the bytes `git archive` writes (a `source git-archive` manifest).
    public var archive: Bool
    /// The recipe's path in the tree.
    public var recipePath: [UInt8]
    /// The verified entries (the manifest's); the tree written to `/build/src` must be exactly
    /// these. Nil on the vendor's side: the entries as read.
    public var expected: [TreeEntry]?
    /// Where the build directory is made (and, with `keep`, left).
    public var parent: String
    public var keep: Bool
    /// Seconds for the whole build.
    public var timeout: Int
    /// Bytes the build file system (`/build`, `/tmp` and `/dev/shm` together, the tree
    /// included) holds at most: a size-limited tmpfs, so the limit holds during the build.
    public var maxOutput: UInt64
    /// Files, directories and symlinks that file system holds at most (its inodes).
    public var maxFiles: UInt64
    public var workers: Int

    public init(tree: TreeLocation, archive: Bool, recipePath: [UInt8], expected: [TreeEntry]?, parent: String,
                keep: Bool, timeout: Int, maxOutput: UInt64, maxFiles: UInt64 = 1_000_000, workers: Int) {
        self.tree = tree
        self.archive = archive
        self.recipePath = recipePath
        self.expected = expected
        self.parent = parent
        self.keep = keep
        self.timeout = timeout
        self.maxOutput = maxOutput
        self.maxFiles = maxFiles
        self.workers = workers
    }
}

/// A build that ran to its end: the recipe, where it ran, and what it wrote to `$OUT`.
public struct BuildResult: Sendable {
    public var recipe: Recipe
    public var sourceDateEpoch: UInt64
    /// The build directory on the host; `directory.output` names `$OUT` as the build left it,
    /// through the descriptor held since it was made.
    public var directory: BuildDirectory
    /// Everything under `$OUT`, sorted by path.
    public var outputs: [TreeEntry]
    public var seconds: Double
    /// The build file system had no byte or no file left at the end: an artifact may be cut short.
    public var full: Bool = false
}

extension Rebuild {
    /// Writes the tree into a fresh build directory, checks it is exactly the expected tree,
    /// reads the recipe from it, checks the required packages, and runs each line in the
    /// sandbox. The caller removes `directory` unless asked to keep it.
    /// - Throws: `RebuildError` (exit 2) for anything that keeps the build from running to its
    ///   end: no sandbox, a tree that is not the verified one, a malformed recipe, a package
    ///   missing or of another version, no `SOURCE_DATE_EPOCH`, a failing run line, the time
    ///   or size limit; reader errors as the readers throw them.
    public static func build(_ request: BuildRequest) throws -> BuildResult {
        let started = Date()
        let directory: BuildDirectory
        do { directory = try BuildDirectory(parent: request.parent) } catch let error as SandboxError {
            throw RebuildError(error.message)
        }
        var done = false
        defer { if !done && !request.keep { directory.remove() } }
        guard Sandbox.bubblewrap != nil, Sandbox.unshare != nil else {
            throw RebuildError("cannot rebuild here: bubblewrap (bwrap) and unshare (util-linux) are needed to isolate the build",
                               hint: "install them (Debian: apt-get install bubblewrap util-linux)")
        }

        // The tree, written as the reader shows it; then read back and compared entry by entry.
        let writer = TreeWriter(root: directory.source, only: request.expected.map { Set($0.map(\.path)) })
        var read: [TreeEntry]
        var commit: String?
        switch request.tree {
        case let .git(repository, revision):
            let snapshot = try GitReader.read(repositoryPath: repository, revision: revision ?? "HEAD", archive: request.archive,
                                              workers: request.workers, inspect: writer.inspector)
            read = snapshot.entries
            commit = snapshot.revision.commit
        case let .directory(path):
            let tree = try DirectoryReader.readTree(root: path, workers: request.workers, inspect: writer.inspector)
            if let nested = tree.nestedGit.first {
                throw RebuildError("\(path): \(Escaping.escape(nested)) is git's data below the tree's root; no release tree holds it")
            }
            read = tree.entries
        case let .tarball(path, strip):
            read = try TarballReader.readRelease(path: path, stripComponents: strip, inspect: writer.inspector).entries
        }
        do { try writer.finish() } catch let error as SandboxError { throw RebuildError(error.message) }
        let expected = (request.expected ?? read).filter { $0.kind != .submodule }
        var comparer = TreeComparer(actual: try DirectoryReader.readTree(root: directory.source, skipRootGit: false,
                                                                         workers: request.workers).entries)
        for entry in expected { comparer.expect(entry) }
        if let first = comparer.finish().first {
            throw RebuildError("the tree written to the build directory is not the verified one (\(Escaping.escape(first.path)) differs); the tree may have changed while it was read")
        }

        // The recipe, from the tree just checked.
        let shownRecipe = Escaping.escape(request.recipePath)
        guard let listed = expected.first(where: { $0.path == request.recipePath }) else {
            throw RebuildError("the recipe \(shownRecipe) is not in the tree")
        }
        guard listed.kind.isRegularFile else { throw RebuildError("the recipe \(shownRecipe) is not a regular file") }
        let recipe: Recipe
        do {
            recipe = try Recipe(parsing: DirectoryReader.content(root: directory.source, path: request.recipePath,
                                                                 limit: Recipe.maxSize + 1))
        } catch let error as FormatError {
            throw RebuildError("\(shownRecipe)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                               hint: "the recipe format: `glassbox help format` (in full: Manifests/FORMAT.md § Build recipes)")
        }

        try checkRequirements(recipe, shownRecipe, logDirectory: directory.logDirectory)
        let epoch: UInt64
        if let fixed = recipe.sourceDateEpoch {
            epoch = fixed
        } else if case let .git(repository, _) = request.tree, let commit {
            let time = try GitReader.committerTime(repositoryPath: repository, commit: commit)
            epoch = UInt64(max(0, time))
        } else {
            throw RebuildError("\(shownRecipe): no SOURCE_DATE_EPOCH: the tree was not read from git, so there is no commit time",
                               hint: "read the tree with --repo, or add a 'source-date-epoch SECONDS' line to the recipe")
        }

        let limits = "--max-output \(request.maxOutput) bytes and --max-files \(request.maxFiles) files"
        let run: SandboxRun
        do {
            run = try Sandbox.build(commands: recipe.commands.map(\.text), in: directory,
                                    environment: environment(sourceDateEpoch: epoch), timeout: request.timeout,
                                    limits: BuildLimits(bytes: request.maxOutput, files: request.maxFiles)) { copy in
                // The copy the build reads, checked as the written tree was.
                var again = TreeComparer(actual: try DirectoryReader.readTree(root: copy, skipRootGit: false, workers: request.workers).entries)
                for entry in expected { again.expect(entry) }
                if let first = again.finish().first {
                    throw RebuildError("the tree copied into the sandbox is not the verified one (\(Escaping.escape(first.path)) differs)")
                }
            }
        } catch let error as SandboxError { throw RebuildError("cannot rebuild here: \(error.message)") }
        if request.keep {
            do { try directory.keepCopy() } catch let error as SandboxError { throw RebuildError(error.message) }
        }
        let log = String(decoding: run.output.suffix(4096), as: UTF8.self)
        let hint = "allow more with --max-output BYTES or --max-files COUNT"
        guard run.made, let lastStarted = run.lastStarted else {
            if run.timedOut {
                throw RebuildError("the sandbox was not ready within the time limit of \(request.timeout) seconds", hint: "give more time with --timeout SECONDS")
            }
            if run.made || log.contains("No space left on device") {
                throw RebuildError("the verified tree does not fit in the build file system (\(limits))", hint: hint)
            }
            throw RebuildError("cannot rebuild here: the sandbox cannot be made: \(log.trimmingCharacters(in: .newlines))",
                               hint: "bubblewrap needs user namespaces (Debian: apt-get install bubblewrap util-linux)")
        }
        let command = recipe.commands[run.failedIndex ?? lastStarted]
        if run.timedOut {
            throw RebuildError("\(shownRecipe):\(command.line): the build ran past the time limit of \(request.timeout) seconds and was stopped",
                               hint: "give more time with --timeout SECONDS")
        }
        if let failed = run.failedStatus {
            let how = "'run \(command.text)' exited with status \(failed)"
            if run.full {
                throw RebuildError("\(shownRecipe):\(command.line): the build was stopped by its limits: it filled the build file system (/build, /tmp and /dev/shm hold at most \(limits)); \(how)"
                                   + (log.isEmpty ? "" : "; its last output:\n\(log)"), hint: hint)
            }
            throw RebuildError("\(shownRecipe):\(command.line): \(how)" + (log.isEmpty ? "" : "; its last output:\n\(log)"))
        }
        guard run.status == 0, lastStarted == recipe.commands.count - 1 else {
            throw RebuildError("\(shownRecipe):\(command.line): the sandbox ended \(run.status.map { "with status \($0)" } ?? "by a signal") before the build did"
                               + (log.isEmpty ? "" : "; its last output:\n\(log)"))
        }
        if let replaced = run.outReplaced {
            throw RebuildError("\(shownRecipe): the build replaced $OUT: /build/out is now \(replaced); only the directory made for $OUT is read, and the build may not swap it",
                               hint: "the recipe writes its artifacts into \"$OUT\", never replaces or moves it")
        }

        let out: DirectoryTree
        do {
            out = try DirectoryReader.readTree(root: directory.output, skipRootGit: false, workers: request.workers)
        } catch let error as ReadError {
            let shown = error.path.hasPrefix(directory.output) ? "$OUT" + error.path.dropFirst(directory.output.count) : error.path
            throw RebuildError("\(shownRecipe): the build wrote what cannot be read as an artifact: \(shown): \(error.message)")
        }
        // A `.git` the build wrote is an output like any other, and not one the recipe can name.
        let outputs = (out.entries + out.nestedGit.map { TreeEntry(path: $0, kind: .file, size: 0, digest: []) })
            .sorted { $0.path.lexicographicallyPrecedes($1.path) }
        done = true
        return BuildResult(recipe: recipe, sourceDateEpoch: epoch, directory: directory, outputs: outputs,
                           seconds: Date().timeIntervalSince(started), full: run.full)
    }

    /// Each `requires` line against the installed package (`dpkg-query`), by exact version.
    private static func checkRequirements(_ recipe: Recipe, _ shownRecipe: String, logDirectory: String) throws {
        guard !recipe.requires.isEmpty else { return }
        guard let dpkgQuery = ProgramRunner.find("dpkg-query") else {
            throw RebuildError("\(shownRecipe):\(recipe.requires[0].line): the recipe requires Debian packages, and dpkg-query is not installed")
        }
        for requirement in recipe.requires {
            let result = try ProgramRunner.run([dpkgQuery, "-W", "-f", "${Version}", requirement.package],
                                               environment: ["PATH=/usr/bin:/bin", "LC_ALL=C"], timeout: 60,
                                               logDirectory: logDirectory)
            let found = String(decoding: result.output, as: UTF8.self)
            let where_ = "\(shownRecipe):\(requirement.line): requires \(requirement.package) \(requirement.version)"
            guard result.status == 0, !found.isEmpty else {
                throw RebuildError("\(where_), but \(requirement.package) is not installed",
                                   hint: "install it: apt-get install \(requirement.package)=\(requirement.version)")
            }
            guard found == requirement.version else {
                throw RebuildError("\(where_), but version \(found) is installed",
                                   hint: "install the version the recipe names: apt-get install \(requirement.package)=\(requirement.version)")
            }
        }
    }
}

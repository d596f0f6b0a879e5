import ArgumentParser
import Foundation
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit
#if canImport(Glibc)
import Glibc
#endif

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
                        hint: "a manifest is described in `glassbox help format` (byte by byte in Manifests/FORMAT.md)")
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
                        hint: "a manifest is described in `glassbox help format` (byte by byte in Manifests/FORMAT.md)")
    }
}

/// Compares a tree with a manifest, streaming the manifest's entries: memory holds the tree,
/// not the manifest.
func compareWithManifest(_ path: String, actual: [TreeEntry]) throws -> (Manifest, [Difference]) {
    var comparer = TreeComparer(actual: actual)
    let manifest = try loadManifest(path) { comparer.expect($0) }
    return (manifest, comparer.finish())
}

/// Where the tree to read comes from: `--repo R [--rev REV]`, `--dir D` or `--tarball T`.
struct SourceOptions: ParsableArguments {
    @Option(name: .long, help: "A git repository (bare or not); read from its object database, never checked out.", completion: .directory)
    var repo: String?

    @Option(name: .long, help: "The revision to read: tag, branch, or full or abbreviated commit id.")
    var rev: String?

    @Option(name: .long, help: "A directory to read (an unpacked tarball, a checkout, a review-room copy); the root's own .git is skipped; a .git below it is an error.", completion: .directory)
    var dir: String?

    @Flag(name: .long, help: "With --repo: the bytes `git archive` writes (the commit's .gitattributes applied), not the stored blobs.")
    var archive = false

    @OptionGroup var tarballOptions: TarballOptions

    @Option(name: .long, help: "Worker threads for reading and hashing (default: one per core).")
    var workers: Int?

    @Flag(name: .long, help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        guard [repo, dir, tarballOptions.tarball].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --repo, --dir or --tarball")
        }
        if repo == nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if repo == nil && archive { throw ValidationError("--archive goes with --repo") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    /// What was read, before it becomes a manifest.
    struct Snapshot {
        var entries: [TreeEntry]
        var source: ReleaseSource
        var defaultName: String
        var defaultVersion: String
        /// The entries are what `git archive` writes.
        var gitArchive = false
    }

    /// Reads the tree. `fallbackRevision` is used when `--rev` is absent; `inspect` sees every
    /// path's content in the same pass.
    func read(fallbackRevision: String = "HEAD", archive: Bool? = nil, inspect: ContentInspector? = nil) throws -> Snapshot {
        let progress = quiet ? nil : tarballOptions.tarball != nil ? Progress.byteHandler() : Progress.handler()
        defer { if progress != nil { Progress.finish() } }
        let workerCount = workers ?? defaultWorkerCount
        if let tarball = tarballOptions.tarball {
            let read = try TarballReader.readRelease(path: tarball, stripComponents: tarballOptions.stripComponents, progress: progress, inspect: inspect)
            var name = read.strippedPrefix.flatMap { String(validating: $0, as: UTF8.self) }
                ?? URL(fileURLWithPath: tarball).lastPathComponent
            for suffix in [".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tar"] where name.hasSuffix(suffix) {
                name.removeLast(suffix.count)
                break
            }
            return Snapshot(entries: read.entries, source: .directory, defaultName: name.isEmpty ? "release" : name,
                            defaultVersion: "unversioned")
        }
        if let repo {
            let asArchive = archive ?? self.archive
            let snapshot = try GitReader.read(repositoryPath: repo, revision: rev ?? fallbackRevision, archive: asArchive,
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
                            defaultName: r.repositoryName, defaultVersion: version, gitArchive: asArchive)
        }
        let path = dir!
        try checkDirectoryArgument(path)
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

/// A passphrase file's first line.
func readPassphrase(_ path: String?) throws -> [UInt8]? {
    guard let path else { return nil }
    let bytes = try readFile(path)
    return Array(bytes.prefix { $0 != 0x0A && $0 != 0x0D })
}



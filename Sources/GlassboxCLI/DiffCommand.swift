import ArgumentParser
import Foundation
import GlassboxScan
import Glassbox
import GlassboxReview
import GlassboxGit

/// `glassbox diff`: what changed between two releases.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two releases: manifests, directories, or git revisions (--repo R OLDREV NEWREV).",
        discussion: """
            The changed files of git and directory sides are scanned for hidden content (bidi controls, \
            invisible characters, look-alike identifiers); findings the old side did not have are listed. \
            Content diffs show such characters as marked U+XXXX escapes in angle brackets. \
            Exit 0 identical, 1 different, 2 trouble, as diff(1).
            """)

    @Argument(help: "The old side: a manifest file or a directory (a revision with --repo).", completion: .file())
    var old: String

    @Argument(help: "The new side.", completion: .file())
    var new: String

    @Option(name: .long, help: "Read both sides as revisions of this git repository.", completion: .directory)
    var repo: String?

    @Option(name: .long, help: "Verify manifest sides' signatures with this trust policy and say which are trusted.", completion: .file())
    var trust: String?

    @Flag(name: .long, help: "Fail (exit 2) unless every manifest side is signed as the --trust policy requires.")
    var requireTrusted = false

    @Flag(name: .long, help: "Show unified diffs of modified text files (git and directory sides).")
    var content = false

    @Option(name: .long, help: "With --content: cut each content diff after this many bytes (default 65536).")
    var maxBytes: Int?

    @Flag(name: .long, help: "Print JSON (media type \(DiffReport.mediaType)).")
    var json = false

    @Option(name: .long, help: "Also write a self-contained offline HTML report to this file.", completion: .file())
    var html: String?

    @Option(name: .long, help: "Worker threads (default: one per core).")
    var workers: Int?

    @OptionGroup var colorOptions: ColorOptions

    func validate() throws {
        if requireTrusted && trust == nil { throw ValidationError("--require-trusted needs --trust") }
        if let maxBytes {
            guard content else { throw ValidationError("--max-bytes goes with --content") }
            guard maxBytes >= 1 else { throw ValidationError("--max-bytes must be at least 1") }
        }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        try runReporting {
            let policy = try trust.map(loadPolicy)
            let sides = try loadBothSides(policy)
            if requireTrusted, let untrusted = sides.first(where: { $0.trusted == false }) {
                throw UserError("\(untrusted.label) is not signed as the trust policy requires: \(untrusted.trustNote ?? "")",
                                hint: "drop --require-trusted to compare it anyway")
            }
            let changes = diffReleases(old: sides[0].entries, new: sides[1].entries)
            let read = try readChanges(changes, sides)
            let report = DiffReport(old: sides[0], new: sides[1], changes: changes, contents: read.diffs,
                                    findings: read.findings, scanNote: read.scanNote, excerpts: read.excerpts)
            if let html { try writeOutput(Array(report.html().utf8), to: html) }
            if json {
                try writeOutput(renderJSON(report), to: nil)
            } else {
                FileHandle.standardOutput.write(Data(report.text(colour: colorOptions.painter.enabled).utf8))   // made safe piece by piece
            }
            return changes.isEmpty ? 0 : 1
        }
    }

    /// One side as read, with what is known about who signed it.
    struct Side {
        enum Source { case manifest, directory(String), git(repo: String, commit: String), tarball(String) }
        var label: String
        var source: Source
        var entries: [TreeEntry]
        var header: ReleaseHeader?
        /// nil: no policy given or not a manifest; true/false: the policy's verdict.
        var trusted: Bool?
        var trustNote: String?
    }

    /// Reads the two sides at the same time: each is mostly parsing or hashing on one core.
    private func loadBothSides(_ policy: TrustPolicy?) throws -> [Side] {
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var sides: [Side?] = [nil, nil]
            var error: Error?
        }
        let box = Box()
        let arguments = [old, new]
        let command = self
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            do {
                let side = try command.loadSide(arguments[index], policy: policy)
                box.lock.withLock { box.sides[index] = side }
            } catch {
                // The old side's error wins, so the message does not depend on timing.
                box.lock.withLock { if box.error == nil || index == 0 { box.error = error } }
            }
        }
        if let error = box.error { throw error }
        return box.sides.map { $0! }
    }

    private func loadSide(_ argument: String, policy: TrustPolicy?) throws -> Side {
        let workerCount = workers ?? defaultWorkerCount
        if let repo {
            let snapshot = try GitReader.read(repositoryPath: repo, revision: argument, workers: workerCount)
            return Side(label: "\(argument) (git \(snapshot.revision.commit.prefix(12)))",
                        source: .git(repo: repo, commit: snapshot.revision.commit), entries: snapshot.entries)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            throw FileError(path: argument, message: "no such file or directory")
        }
        if isDirectory.boolValue {
            return Side(label: "\(argument) (directory)", source: .directory(argument),
                        entries: try DirectoryReader.read(root: argument, workers: workerCount))
        }
        if [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst"].contains(where: { argument.hasSuffix($0) }) {
            let read = try TarballReader.readRelease(path: argument)
            return Side(label: "\(argument) (tarball)", source: .tarball(argument), entries: read.entries)
        }
        let manifest = try loadManifest(argument)
        do { try manifest.checkConsistency() } catch let error as FormatError {
            throw UserError("\(argument):\(error.line ?? 0): \(error.message)")
        }
        var side = Side(label: "\(argument) (manifest \(manifest.header.origin))", source: .manifest,
                        entries: manifest.entries, header: manifest.header)
        if let policy {
            let (release, verdict, _) = ReleaseVerifier.checkManifest(manifest, policy: policy, day: todayUTC())
            side.trusted = release != nil
            let names = verdict.counted.map(\.name).joined(separator: ", ")
            side.trustNote = release != nil
                ? "signed by \(names) (\(verdict.counted.count) of \(verdict.threshold) required)"
                : (verdict.findings.filter { $0.severity == .failure }.map(\.message).joined(separator: "; "))
        }
        return side
    }

    /// What reading the changed files' content found: the content diffs (with `--content`) and
    /// the scan findings the new release brings.
    struct ChangedContent {
        var diffs: [[UInt8]: DiffReport.ContentItem] = [:]
        var findings: [ScanFinding] = []
        var scanNote: String?
        /// The new text of each line with a finding, by path and line number.
        var excerpts: [[UInt8]: [Int: String]] = [:]
    }

    /// Lines kept per file to show beside its findings, and bytes kept of each.
    static let excerptLines = 100
    static let excerptBytes = 2000

    /// A file larger than this is not read for the scan: its size is known before reading, and
    /// what is held stays bounded (the old and the new version of one file at a time).
    static let scanFileBytes: UInt64 = 64 << 20

    /// Reads each changed file once for both the content diff and the scan. The scan looks at
    /// every file whose new content differs (added, modified, or now a file): a reviewer who
    /// reads the diff should also hear about what the diff cannot show. Files are read and
    /// scanned on the workers; each holds at most one file's two versions at a time.
    private func readChanges(_ changes: [Change], _ sides: [Side]) throws -> ChangedContent {
        var out = ChangedContent()
        let hasContent = (old: hasContent(sides[0]), new: hasContent(sides[1]))
        if !hasContent.new {
            out.scanNote = "not scanned: the new side is a manifest or tarball, which holds hashes, not content"
        } else if !hasContent.old {
            out.scanNote = "the old side holds no content, so every finding in a changed file is listed"
        }
        let work = changes.filter { change in
            scans(change, hasContent.new) || (content && change.kind == .modified)
        }
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var results: [ChangeRead?]
            var error: (position: Int, error: Error)?
            init(_ count: Int) { results = Array(repeating: nil, count: count) }
        }
        let box = Box(work.count)
        let workerCount = max(1, min(workers ?? defaultWorkerCount, work.count))
        let command = self
        DispatchQueue.concurrentPerform(iterations: workerCount) { worker in
            for position in stride(from: worker, to: work.count, by: workerCount) {
                if box.lock.withLock({ box.error != nil }) { return }
                do {
                    let result = try command.readChange(work[position], sides, hasContent: hasContent)
                    box.lock.withLock { box.results[position] = result }
                } catch {
                    // The first change's error wins, so the message does not depend on timing.
                    box.lock.withLock { if box.error.map({ position < $0.position }) ?? true { box.error = (position, error) } }
                }
            }
        }
        if let error = box.error { throw error.error }
        for (change, result) in zip(work, box.results) {
            guard let result else { continue }
            if let diff = result.diff { out.diffs[change.path] = diff }
            out.findings += result.findings
            if !result.excerpts.isEmpty { out.excerpts[change.path] = result.excerpts }
        }
        return out
    }

    /// Whether the scan reads this change: its new content is a file that differs from before.
    private func scans(_ change: Change, _ newHasContent: Bool) -> Bool {
        let newIsFile = change.new.map { $0.kind == .file || $0.kind == .exec } ?? false
        return newHasContent && newIsFile && [.added, .modified, .kindChanged].contains(change.kind)
    }

    /// What one changed file gave: its content diff (with `--content`), the findings its new
    /// version brings, and the text of their lines.
    struct ChangeRead {
        var diff: DiffReport.ContentItem?
        var findings: [ScanFinding]
        var excerpts: [Int: String] = [:]
    }

    private func readChange(_ change: Change, _ sides: [Side], hasContent: (old: Bool, new: Bool)) throws -> ChangeRead {
        let scanned = scans(change, hasContent.new)
        let oldIsFile = change.old.map { $0.kind == .file || $0.kind == .exec } ?? false
        // Sizes come from the tree listing, so a file too large is never read.
        let tooLarge = scanned && [change.old, change.new].contains { ($0?.size ?? 0) > Self.scanFileBytes }
        var findings: [ScanFinding] = []
        if tooLarge {
            findings.append(ScanFinding("scan-limit", .warning, path: change.path,
                                        "not scanned: larger than the \(Self.scanFileBytes >> 20) MiB diff reads of one file"))
        }
        let newContent = hasContent.new && !tooLarge ? try read(sides[1], change.path) : nil
        let oldContent = hasContent.old && oldIsFile && !tooLarge ? try read(sides[0], change.oldPath ?? change.path) : nil
        var excerpts: [Int: String] = [:]
        if scanned, let newContent {
            let found = introducedFindings(path: change.path, old: oldContent, new: newContent, options: ScanOptions())
            findings += found
            excerpts = lines(Set(found.compactMap(\.line).prefix(Self.excerptLines)), of: newContent)
        }
        func result(_ diff: DiffReport.ContentItem?) -> ChangeRead { ChangeRead(diff: diff, findings: findings, excerpts: excerpts) }
        guard content && change.kind == .modified else { return result(nil) }
        guard let oldContent, let newContent else {
            return result(.init(note: tooLarge
                ? "content not shown: larger than \(Self.scanFileBytes >> 20) MiB"
                : "content not available: a manifest side has only hashes, and a tarball side is not unpacked"))
        }
        let maxBytes = self.maxBytes ?? 65_536
        let diff = try ContentDiff.between(old: oldContent, new: newContent, oldPath: change.path, newPath: change.path)
        if diff.isBinary {
            return result(.init(note: "binary: \(oldContent.count) bytes sha256 \(hex(change.old!.digest)) → \(newContent.count) bytes sha256 \(hex(change.new!.digest))"))
        } else if diff.text.count > maxBytes {
            return result(.init(diff: String(decoding: diff.text.prefix(maxBytes), as: UTF8.self),
                                note: "cut at \(maxBytes) of \(diff.text.count) bytes (--max-bytes)"))
        }
        return result(.init(diff: String(decoding: diff.text, as: UTF8.self)))
    }

    /// The text of the 1-based `wanted` lines of `content`, each cut at `excerptBytes`: one
    /// pass that stops after the last line wanted.
    private func lines(_ wanted: Set<Int>, of content: [UInt8]) -> [Int: String] {
        guard let last = wanted.max() else { return [:] }
        var out: [Int: String] = [:]
        var line = 1
        var start = 0
        while line <= last && start <= content.count {
            let end = content[start...].firstIndex(of: UInt8(ascii: "\n")) ?? content.count
            if wanted.contains(line) {
                out[line] = String(decoding: content[start..<min(end, start + Self.excerptBytes)], as: UTF8.self)
            }
            line += 1
            start = end + 1
        }
        return out
    }

    private func hasContent(_ side: Side) -> Bool {
        switch side.source {
        case .manifest, .tarball: return false
        case .directory, .git: return true
        }
    }

    private func read(_ side: Side, _ path: [UInt8]) throws -> [UInt8]? {
        switch side.source {
        case .manifest, .tarball: return nil
        case let .directory(root): return try DirectoryReader.content(root: root, path: path)
        case let .git(repo, commit): return try GitReader.content(repositoryPath: repo, commit: commit, path: path)
        }
    }
}

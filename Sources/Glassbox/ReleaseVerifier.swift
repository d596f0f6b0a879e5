import Foundation
import GlassboxScan
import GlassboxCrypto
import GlassboxGit

/// A manifest as handed over: not yet trusted. It is read from its start each time it is
/// parsed; the verifier parses it twice (once to check signatures, count and root before any
/// tree is touched, once to compare entries) and fails if the two reads differ.
public enum ManifestInput: Sendable {
    /// Bytes in memory.
    case bytes([UInt8])
    /// A file, read line by line so memory holds one chunk, not the manifest.
    case file(String)

    /// Parses the manifest strictly from its start; `onEntry` sees each entry in order and the
    /// result holds none.
    /// - Throws: `FormatError` for malformed input; `ManifestFileError` when the file cannot be read.
    public func parse(onEntry: (TreeEntry) throws -> Void) throws -> Manifest {
        switch self {
        case let .bytes(bytes):
            var lines = ByteLines(bytes)
            return try withoutActuallyEscaping(onEntry) { try Manifest.parse(lines: &lines, onEntry: $0) }
        case let .file(path):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                var isDirectory: ObjCBool = false
                let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                throw ManifestFileError(path: path, message: !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "cannot be read")
            }
            defer { try? handle.close() }
            var lines = FileLines(handle)
            return try withoutActuallyEscaping(onEntry) { try Manifest.parse(lines: &lines, onEntry: $0) }
        }
    }
}

/// A manifest file could not be opened.
public struct ManifestFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// The lines of a file, read in 1 MiB chunks: memory holds one chunk and one line, whatever
/// the file's size.
public struct FileLines: LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false

    public init(_ handle: FileHandle) { self.handle = handle }

    public mutating func nextLine() throws -> ArraySlice<UInt8>? {
        while true {
            if let end = buffer[position...].firstIndex(of: 0x0A) {
                defer { position = end + 1 }
                return buffer[position..<end]
            }
            if buffer.count - position > Manifest.maxLineLength {
                // Too long to be a line: hand back enough for the parser to say so.
                defer { position = buffer.count }
                return buffer[position..<(position + Manifest.maxLineLength + 1)]
            }
            if atEnd {
                guard position == buffer.count else {
                    throw FormatError(line: nil, "the file does not end with a newline (truncated?)")
                }
                return nil
            }
            buffer.removeFirst(position)
            position = 0
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { atEnd = true } else { buffer += chunk }
        }
    }
}

/// Where the tree to check is.
public enum TreeLocation: Sendable {
    /// A git repository's objects; `revision` nil means the commit the signed manifest names.
    case git(repository: String, revision: String?)
    /// A directory (an unpacked tarball, a checkout, a review-room copy).
    case directory(String)
    /// A tarball read as it is (.tar, .tar.gz, .tar.xz, .tar.bz2, .tar.zst), never unpacked;
    /// `stripComponents` nil strips a single top-level directory.
    case tarball(String, stripComponents: Int?)
}

/// Everything a release verification needs besides the manifest.
public struct VerificationRequest: Sendable {
    public var policy: TrustPolicy
    /// Today in UTC, YYYY-MM-DD: key validity dates are checked against it.
    public var day: String
    public var tree: TreeLocation
    /// Artifact paths given (files, or directories of files); nil when none were.
    public var artifacts: [String]?
    /// Whether those are only some of the listed artifacts, and which unlisted files may sit
    /// beside them.
    public var artifactScope: ArtifactScope
    /// The hidden-content scan's options, or nil when the reviewer turned it off. The scan
    /// rides along with the tree read.
    public var scan: ScanOptions?
    /// Which scan findings fail the verdict, and who said so.
    public var scanFailOn: ScanThreshold
    public var scanFailOnSource: ScanThresholdSource
    /// Reviewed exceptions: the findings they cover do not count, and are reported as excepted.
    public var scanExceptions: ScanExceptions?
    public var log: LogCheck?
    /// Rebuild attestations handed in, parsed but not yet checked.
    public var rebuildAttestations: [AttestationInput]
    public var workers: Int
    public var progress: ProgressHandler?

    public init(policy: TrustPolicy, day: String, tree: TreeLocation, artifacts: [String]? = nil,
                artifactScope: ArtifactScope = ArtifactScope(),
                scan: ScanOptions? = nil, scanFailOn: ScanThreshold = .standard,
                scanFailOnSource: ScanThresholdSource = .standard, scanExceptions: ScanExceptions? = nil, log: LogCheck? = nil,
                rebuildAttestations: [AttestationInput] = [],
                workers: Int = defaultWorkerCount, progress: ProgressHandler? = nil) {
        self.policy = policy
        self.day = day
        self.tree = tree
        self.artifacts = artifacts
        self.artifactScope = artifactScope
        self.scan = scan
        self.scanFailOn = scanFailOn
        self.scanFailOnSource = scanFailOnSource
        self.scanExceptions = scanExceptions
        self.log = log
        self.rebuildAttestations = rebuildAttestations
        self.workers = workers
        self.progress = progress
    }
}

/// What a verification checked and found. Only the core makes one, and only it can say
/// "verified": `verified` holds when the signatures, count and root were good (a
/// `VerifiedRelease` exists) and no finding is a failure.
public struct VerificationOutcome: Sendable {
    /// What was looked at, for the report.
    public struct Checked: Sendable {
        /// The tree (or file) checked, in words; nil when no tree was read.
        public internal(set) var source: String?
        public internal(set) var entriesListed: UInt64 = 0
        public internal(set) var entriesFound: Int = 0
        public internal(set) var artifactsListed: Int = 0
        public internal(set) var artifactsChecked: Int = 0
        /// Whether the artifacts given were a selection (`--artifact`), and the listed ones
        /// not checked then (escaped names).
        public internal(set) var artifactSelection = false
        public internal(set) var artifactsNotChecked: [String] = []
        /// Each `--ignore-unlisted` glob and the unlisted files it covered (escaped names).
        public internal(set) var artifactsIgnored: [(glob: String, files: [String])] = []
        public internal(set) var scanRan = false
        /// The scan threshold that applied, and where it came from.
        public internal(set) var scanFailOn: ScanThreshold?
        public internal(set) var scanFailOnSource: ScanThresholdSource?
        /// Scan findings not covered by an exception, by severity (whether or not they failed).
        public internal(set) var scanCounts: [ScanFinding.Severity: Int] = [:]
        /// The exceptions file, and how many findings it covered.
        public internal(set) var scanExceptionsSource: String?
        public internal(set) var scanExcepted = 0
        /// The transparency-log check, in words, when one was asked for.
        public internal(set) var log: String?
        /// Rebuild attestations: how many were given, the rebuilders that counted, and how many
        /// the policy requires; nil when none were given and none are required.
        public internal(set) var rebuild: RebuildVerdict?
        public internal(set) var rebuildAttestationsGiven = 0
        /// With a per-file proof: the path the proof is for (escaped).
        public internal(set) var provenPath: String?
    }

    public let release: VerifiedRelease?
    /// The header the manifest states (trusted only when `release` is there).
    public let header: ReleaseHeader?
    public let signatures: SignatureVerdict?
    public let findings: [Finding]
    public let checked: Checked
    /// A checkpoint that may become the reviewer's new last-seen one (only when verified).
    public let logState: Checkpoint?

    public var verified: Bool { release != nil && !findings.contains { $0.severity == .failure } }
}

/// The one place that decides whether a release verifies, in a fixed order:
/// 1. parse the manifest strictly; 2. check signatures against the policy, and the entry lines
/// against the signed count and root — and stop there, before any tree is read, if they fail;
/// 3. read the tree the signed note names (binding the signed commit and tree when reading
/// git); 4. read the manifest again and compare entry by entry, failing if it changed;
/// 5. scan, artifacts, rebuild attestations, log.
public enum ReleaseVerifier {
    /// Verifies a release tree. Throws only for bad input or I/O (unreadable manifest, policy
    /// or tree); every verification problem is a finding in the outcome.
    public static func verify(manifest input: ManifestInput, _ request: VerificationRequest) throws -> VerificationOutcome {
        // The submodule pins tell the directory reader where a checkout may stand.
        var submodules = Set<[UInt8]>()
        let first = try input.parse(onEntry: { if $0.kind == .submodule { submodules.insert($0.path) } })
        let (trusted, verdict, manifestFindings) = checkManifest(first, policy: request.policy, day: request.day)
        var findings = manifestFindings
        var checked = VerificationOutcome.Checked()
        checked.entriesListed = first.entryCount
        checked.artifactsListed = first.header.artifacts.count
        guard let release = trusted else {
            findings.append(Finding(.note, .integrity, .treeNotRead, "the tree was not read: the manifest is not trusted"))
            return VerificationOutcome(release: nil, header: first.header, signatures: verdict, findings: findings,
                                       checked: checked, logState: nil)
        }

        // The tree the signed note names.
        let scanner = try request.scan.map { try makeScanner($0, tree: request.tree, archive: release.header.gitArchive) }
        let tree = try readTree(request, release: release, submodules: submodules, inspect: scanner?.inspector)
        let entries = tree.entries
        findings += tree.findings
        checked.source = tree.source
        checked.entriesFound = entries.count

        // The entries, read again and compared; the second read must be the one that was checked.
        var comparer = TreeComparer(actual: entries)
        let second = try input.parse(onEntry: { comparer.expect($0) })
        if second.noteText != first.noteText || second.signatureLines != first.signatureLines
            || second.entryCount != first.count || !constantTimeEquals(second.computedRoot, first.root) {
            findings.append(Finding(.failure, .integrity, .manifestChanged,
                                    "the manifest changed while it was being read: the entries compared are not the ones whose root was checked"))
        }
        let differences = comparer.finish()
        var explanations: [[UInt8]: String] = [:]
        if case .git = release.header.source, !release.header.gitArchive, !differences.isEmpty {
            explanations = try explain(differences, entries: entries, tree: request.tree, checkouts: tree.checkouts)
            if !explanations.isEmpty {
                findings.append(Finding(.note, .source, .archiveHint,
                                        "\(explanations.count) difference\(explanations.count == 1 ? " is" : "s are") what git archive or a checkout makes of the signed tree; "
                                        + "a manifest of the bytes git archive writes is made with `glassbox manifest --repo REPO --rev TAG --archive`"))
            }
        }
        findings += sourceFindings(differences, extrasAreGenerated: tree.fromTarball, explanations: explanations)
        if let hint = subdirectoryHint(differences, tree: request.tree) { findings.append(hint) }

        if let scanner {
            let scanned = scanner.findings(entries: entries)
            let split = request.scanExceptions?.apply(to: scanned)
            findings += scanVerificationFindings(scanned, failOn: request.scanFailOn, exceptions: request.scanExceptions)
            checked.scanRan = true
            checked.scanFailOn = request.scanFailOn
            checked.scanFailOnSource = request.scanFailOnSource
            for f in split?.kept ?? scanned { checked.scanCounts[f.severity, default: 0] += 1 }
            checked.scanExceptionsSource = request.scanExceptions?.source
            checked.scanExcepted = split?.excepted.count ?? 0
        } else {
            findings.append(Finding(.note, .scan, .scanSkipped, "the hidden-content scan was skipped (--skip-scan-unsafe)"))
        }

        if let paths = request.artifacts, !paths.isEmpty {
            let observed = try observeArtifacts(paths, workers: request.workers)
            let check = checkArtifacts(listed: release.header.artifacts, observed: observed, scope: request.artifactScope)
            findings += check.findings
            checked.artifactsChecked = observed.fileCount
            checked.artifactSelection = request.artifactScope.selection
            checked.artifactsNotChecked = check.notChecked
            checked.artifactsIgnored = check.ignored
        } else if !release.header.artifacts.isEmpty {
            findings.append(Finding(.note, .artifact, .notChecked,
                                    "the manifest lists \(counting(release.header.artifacts.count, "artifact")); none were given (--artifacts)"))
        }

        // Rebuilds are about the artifacts the signed note lists, so they are checked against
        // the verified release, whatever tree or artifacts were given.
        if request.policy.rebuildThreshold > 0 || !request.rebuildAttestations.isEmpty {
            let verdict = checkRebuilds(request.rebuildAttestations, release: release, policy: request.policy, day: request.day)
            findings += verdict.findings
            checked.rebuild = verdict
            checked.rebuildAttestationsGiven = request.rebuildAttestations.count
        }

        var logState: Checkpoint?
        if let log = request.log {
            let (checkpoint, logFindings) = verifyLogInclusion(entry: release.noteText, log)
            findings += logFindings
            logState = checkpoint
            checked.log = logSummary(log)
        }
        // The reviewer's log state moves forward only when the whole release verified.
        let failed = findings.contains { $0.severity == .failure }
        return VerificationOutcome(release: release, header: release.header, signatures: verdict, findings: findings,
                                   checked: checked, logState: failed ? nil : logState)
    }

    /// The scan for the bytes the tree read gives it. From git, those are the stored objects a
    /// checkout converts, so attribute findings are computed as `glassbox scan --repo` computes
    /// them, with the repository's own filter drivers; unless the manifest lists what git archive
    /// writes, which the read has already converted, as a directory or tarball has been.
    private static func makeScanner(_ options: ScanOptions, tree: TreeLocation, archive: Bool) throws -> ScanCollector {
        guard case let .git(repository, _) = tree, !archive else { return ScanCollector(options: options) }
        return ScanCollector(options: options, attributeSource: .gitObjects,
                             filterDrivers: try GitReader.filterDrivers(repositoryPath: repository))
    }

    /// A tree as read for verification.
    private struct TreeRead {
        var entries: [TreeEntry] = []
        /// Submodule checkouts (directories), or empty directories (tarballs).
        var checkouts: [SubmoduleCheckout] = []
        /// A vendor's tarball against a git manifest: paths only in it are `generated`.
        var fromTarball = false
        /// What was read, in words, for the report's "checked" line.
        var source = ""
        var findings: [Finding] = []
    }

    /// Reads the tree the request names: for git, the commit the signed note names (or the
    /// revision asked), read as the manifest was made, with the signed commit and tree bound.
    private static func readTree(_ request: VerificationRequest, release: VerifiedRelease,
                                 submodules: Set<[UInt8]>, inspect: ContentInspector?) throws -> TreeRead {
        var out = TreeRead()
        var signed: (commit: String, tree: String)?
        if case let .git(commit, tree, _, _) = release.header.source { signed = (commit, tree) }
        switch request.tree {
        case let .git(repository, revision):
            let asked = revision ?? signed?.commit ?? "HEAD"
            // An archive manifest lists what git archive writes: read the commit the same way.
            let snapshot = try GitReader.read(repositoryPath: repository, revision: asked, archive: release.header.gitArchive,
                                              workers: request.workers, progress: request.progress, inspect: inspect)
            out.entries = snapshot.entries
            out.source = "git \(repository) at \(asked) (commit \(snapshot.revision.commit))"
            if let signed, snapshot.revision.commit != signed.commit {
                out.findings.append(Finding(.failure, .integrity, .commitMismatch, subject: asked,
                                            "the manifest signs commit \(signed.commit), but \(asked) is commit \(snapshot.revision.commit)"))
            }
            if let signed, snapshot.revision.tree != signed.tree {
                out.findings.append(Finding(.failure, .integrity, .treeMismatch,
                                            "the manifest signs tree \(signed.tree), but the commit read has tree \(snapshot.revision.tree)"))
            }
        case let .directory(path):
            let read = try DirectoryReader.readTree(root: path, submodulePaths: submodules, workers: request.workers,
                                                    progress: request.progress, inspect: inspect)
            out.entries = read.entries
            out.checkouts = read.submoduleCheckouts
            out.source = "directory \(path)"
            out.findings = gitFindings(read)
        case let .tarball(path, strip):
            let read = try TarballReader.readRelease(path: path, stripComponents: strip, progress: request.progress, inspect: inspect)
            out.entries = read.entries
            // An empty directory where a submodule is pinned is how git archive writes one.
            out.checkouts = read.emptyDirectories.map { SubmoduleCheckout(path: $0, commit: nil, filesNotChecked: 0) }
            out.source = "tarball \(path)"
            if let prefix = read.strippedPrefix { out.source += " (top-level directory \(Escaping.escape(prefix))/ stripped)" }
            out.fromTarball = signed != nil
        }
        // A directory or tarball holds no commit: the signed commit and tree cannot be compared,
        // only every entry, and the report's "checked" line says so.
        switch request.tree {
        case .git: break
        case .directory, .tarball: if signed != nil { out.source += " (no commit to compare with the signed one)" }
        }
        return out
    }

    /// Checks a parsed manifest's signatures against `policy` on `day`, and its entry lines
    /// against the signed count and root. Returns the verified release only when all hold.
    public static func checkManifest(_ manifest: Manifest, policy: TrustPolicy, day: String)
        -> (release: VerifiedRelease?, verdict: SignatureVerdict, findings: [Finding]) {
        let verdict = checkSignatures(text: manifest.noteText, signatureLines: manifest.signatureLines,
                                      origin: manifest.header.origin, policy: policy, day: day)
        var findings = verdict.findings
        if manifest.count != manifest.entryCount {
            findings.append(Finding(.failure, .integrity, .countMismatch,
                                    "the signed count is \(manifest.count) but the manifest has \(manifest.entryCount) entry lines"))
        }
        if !constantTimeEquals(manifest.root, manifest.computedRoot) {
            findings.append(Finding(.failure, .integrity, .rootMismatch,
                                    "the entry lines hash to \(base64(manifest.computedRoot)), not the signed root \(base64(manifest.root))"))
        }
        guard verdict.met, !findings.contains(where: { $0.severity == .failure }) else { return (nil, verdict, findings) }
        return (VerifiedRelease(header: manifest.header, noteText: manifest.noteText, count: manifest.count,
                                root: manifest.root, signers: verdict.counted), verdict, findings)
    }

    /// Verifies one file against a per-file proof: the checkpoint's signatures, the entry's
    /// inclusion under the signed root, that the file is the one the proof names, and its bytes.
    /// `file` is the path given; `claimedPath`, when the reviewer names the release path
    /// explicitly, replaces the check that `file` ends with the proven path.
    public static func verify(proof: FileProof, file: String, claimedPath: [UInt8]?,
                              policy: TrustPolicy, day: String) throws -> VerificationOutcome {
        let actual = try DirectoryReader.readSingle(path: file)
        let result = proof.verify(actual: actual, policy: policy, day: day)
        var findings = result.findings
        var checked = VerificationOutcome.Checked()
        checked.entriesListed = 1
        checked.entriesFound = 1
        checked.source = "file \(file)"
        if let entry = result.entry {
            checked.provenPath = Escaping.escape(entry.path)
            let given = Array(file.utf8)
            if let claimedPath {
                if claimedPath != entry.path {
                    findings.append(Finding(.failure, .proof, .pathMismatch, subject: Escaping.escape(entry.path),
                                            "the proof is for \(Escaping.escape(entry.path)), not for \(Escaping.escape(claimedPath)) (--path)"))
                }
            } else if !(given == entry.path || given.count > entry.path.count
                        && given.suffix(entry.path.count).elementsEqual(entry.path)
                        && given[given.count - entry.path.count - 1] == UInt8(ascii: "/")) {
                findings.append(Finding(.failure, .proof, .pathMismatch, subject: Escaping.escape(entry.path),
                                        "the proof is for \(Escaping.escape(entry.path)), but the file given is \(Escaping.escape(given)); "
                                        + "name the release path with --path if this file is that one under another name"))
            }
        }
        var release: VerifiedRelease?
        if let verdict = result.verdict, verdict.met, let header = result.header, result.entry != nil,
           let parsed = try? Manifest.parseNoteText(proof.note.text) {
            release = VerifiedRelease(header: header, noteText: proof.note.text, count: parsed.count, root: parsed.root,
                                      signers: verdict.counted)
        }
        return VerificationOutcome(release: release, header: result.header, signatures: result.verdict, findings: findings,
                                   checked: checked, logState: nil)
    }

    /// The differences that `.gitattributes` (or a gitlink written as an empty directory) would
    /// make between the signed git tree and the tree read, by path, each naming its reason.
    private static func explain(_ differences: [Difference], entries: [TreeEntry], tree: TreeLocation,
                                checkouts: [SubmoduleCheckout]) throws -> [[UInt8]: String] {
        var out: [[UInt8]: String] = [:]
        for checkout in checkouts where checkout.commit == nil && checkout.filesNotChecked == 0 {
            out[checkout.path] = "explained: git archive writes a submodule as an empty directory"
        }
        if case .git = tree { return out }
        let changed = Set(differences.map(\.path))
        // What is read again is bounded in all, however many files differ.
        var budget = explainBudget
        var attributeFiles: [[UInt8]] = []
        for entry in entries where entry.kind.isRegularFile && !changed.contains(entry.path)
            && (entry.path.split(separator: UInt8(ascii: "/")).last.map { Array($0) } ?? []) == Array(".gitattributes".utf8)
            && entry.size <= UInt64(AttributeLimits.fileBytes) && entry.size <= budget {
            attributeFiles.append(entry.path)
            budget -= entry.size
        }
        if attributeFiles.isEmpty { return out }
        var wanted = Set(attributeFiles)
        for case let .changed(.modified, listed, found) in differences
            where listed.kind.isRegularFile && found.size <= explainLimit && found.size <= budget {
            wanted.insert(found.path)
            budget -= found.size
        }
        let contents = try readContents(wanted, tree)
        let explainer = AttributeExplainer(attributeFiles: contents.filter { attributeFiles.contains($0.key) })
        for difference in differences {
            switch difference {
            case let .changed(.modified, listed, _):
                if let content = contents[listed.path], let why = explainer.explainModified(path: listed.path, listed: listed, found: content) {
                    out[listed.path] = why
                }
            case let .missing(listed):
                if let why = explainer.explainMissing(path: listed.path) { out[listed.path] = why }
            default: break
            }
        }
        return out
    }

    /// The largest file whose bytes are read again to explain a difference, and the most bytes
    /// read again in all.
    private static let explainLimit: UInt64 = 64 << 20
    private static let explainBudget: UInt64 = 256 << 20

    /// The bytes of a few files of a directory or tarball (each already known to be small).
    private static func readContents(_ paths: Set<[UInt8]>, _ tree: TreeLocation) throws -> [[UInt8]: [UInt8]] {
        switch tree {
        case .git:
            return [:]
        case let .directory(root):
            var out: [[UInt8]: [UInt8]] = [:]
            for path in paths { out[path] = try DirectoryReader.content(root: root, path: path, limit: Int(explainLimit)) }
            return out
        case let .tarball(path, strip):
            let gatherer = ContentGatherer(paths, limit: Int(explainLimit))
            _ = try TarballReader.readRelease(path: path, stripComponents: strip, inspect: { gatherer.sink(for: $0) })
            return gatherer.contents
        }
    }

    /// When nothing listed was found but everything found sits in one subdirectory that holds
    /// exactly the listed paths, the reviewer gave the directory above the release.
    private static func subdirectoryHint(_ differences: [Difference], tree: TreeLocation) -> Finding? {
        guard case let .directory(root) = tree else { return nil }
        var listed: [[UInt8]] = []
        var found: [[UInt8]] = []
        for difference in differences {
            switch difference {
            // A submodule's directory holds no entry of its own in a directory read.
            case let .missing(entry): if entry.kind != .submodule { listed.append(entry.path) }
            case let .extra(entry): found.append(entry.path)
            case .changed: return nil
            }
        }
        guard !listed.isEmpty, let first = found.first, let slash = first.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let prefix = Array(first[...slash])
        guard found.allSatisfy({ $0.starts(with: prefix) }),
              Set(found.map { Array($0.dropFirst(prefix.count)) }) == Set(listed) else { return nil }
        let name = Escaping.escape(Array(prefix.dropLast()))
        return Finding(.note, .source, .archiveHint, subject: name,
                       "the directory holds one subdirectory, \(name), whose paths are exactly the listed ones: give --dir \(root)/\(name)")
    }

    /// What a directory's `.git` entries come to: the root's own is skipped and said so; any
    /// other is git's data inside the release, unlisted, and fails; a submodule checkout is
    /// compared by the commit its HEAD names, and its files are not checked by this manifest.
    private static func gitFindings(_ read: DirectoryTree) -> [Finding] {
        var findings: [Finding] = []
        if read.skippedRootGit {
            findings.append(Finding(.note, .source, .rootGitSkipped, subject: ".git",
                                    "the tree's own .git was skipped: git's data, which no release tree holds"))
        }
        for path in read.nestedGit {
            findings.append(Finding(.failure, .source, .nestedGit, subject: Escaping.escape(path),
                                    "a .git below the tree's root is not part of the release: not listed, and not read"))
        }
        for checkout in read.submoduleCheckouts {
            let files = counting(checkout.filesNotChecked, "file")
            let message = if let commit = checkout.commit {
                "a checkout of the submodule, compared by the commit its HEAD names (\(commit)); its \(files) are not checked by this manifest"
            } else if checkout.filesNotChecked == 0 {
                "an empty directory where the submodule is pinned (as git archive writes it): no commit to compare"
            } else {
                "a directory where the submodule is pinned, with no readable git HEAD: no commit to compare; its \(files) are not checked by this manifest"
            }
            findings.append(Finding(.note, .source, .submoduleCheckout, subject: Escaping.escape(checkout.path), message))
        }
        return findings
    }

    private static func logSummary(_ check: LogCheck) -> String? {
        guard let checkpoint = try? Checkpoint(parsing: check.proof.note.text) else { return nil }
        let cosigners = check.witnesses.filter { $0.verify(check.proof.note.signatures, checkpointText: check.proof.note.text) != nil }
        return "\(checkpoint.origin): index \(check.proof.index) of \(checkpoint.size); cosigned by \(cosigners.count) of \(check.witnessThreshold) required witnesses"
            + (cosigners.isEmpty ? "" : " (\(cosigners.map(\.name).joined(separator: ", ")))")
    }
}

/// Reads artifacts given on the command line: files by base name, directories by relative path.
/// - Throws: `ReadError` for a path that does not exist or cannot be read.
public func observeArtifacts(_ paths: [String], workers: Int) throws -> ObservedArtifacts {
    var given: [ObservedArtifacts.Given] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ManifestFileError(path: path, message: "no such file or directory")
        }
        if isDirectory.boolValue {
            // Nothing is skipped among artifacts: a .git there is unlisted like anything else.
            let read = try DirectoryReader.readTree(root: path, skipRootGit: false, workers: workers)
            given.append(.init(path: path, isDirectory: true, items: read.entries, gitEntries: read.nestedGit))
        } else {
            given.append(.init(path: path, isDirectory: false, items: [try DirectoryReader.readSingle(path: path)]))
        }
    }
    return ObservedArtifacts(given: given)
}

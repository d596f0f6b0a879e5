import GlassboxScan
import GlassboxCrypto
import GlassboxGit

/// One thing a verification found. Failures make the verdict fail; notes do not.
public struct Finding: Sendable, Equatable {
    public enum Severity: String, Sendable { case failure, note }
    /// The group a report puts it in.
    public enum Category: String, Sendable, CaseIterable {
        case signature, integrity, source, artifact, rebuild, proof, log, scan
    }

    /// What was found, as a stable identifier (the raw value is what reports and JSON show).
    public enum Code: String, Sendable, CaseIterable {
        // signature
        case malformedSignature = "malformed-signature"
        case badSignature = "bad-signature"
        case keyOutsideValidity = "key-outside-validity"
        case keyNotAllowedForOrigin = "key-not-allowed-for-origin"
        case sameKeyAgain = "same-key-again"
        case thresholdNotMet = "threshold-not-met"
        // integrity
        case countMismatch = "count-mismatch"
        case rootMismatch = "root-mismatch"
        case manifestChanged = "manifest-changed"
        case commitMismatch = "commit-mismatch"
        case treeMismatch = "tree-mismatch"
        case treeNotRead = "tree-not-read"
        // source
        case modified, missing, extra, retargeted, generated
        case kindChanged = "kind-changed"
        case modeChanged = "mode-changed"
        case submoduleMoved = "submodule-moved"
        case nestedGit = "nested-git"
        case archiveHint = "archive-hint"
        case rootGitSkipped = "root-git-skipped"
        case submoduleCheckout = "submodule-checkout"
        // artifact
        case unlisted
        case notAFile = "not-a-file"
        case sameName = "same-name"
        case notChecked = "not-checked"
        case ignoredUnlisted = "ignored-unlisted"
        // rebuild (also bad-signature, key-outside-validity, key-not-allowed-for-origin and
        // same-key-again, about rebuilders' keys)
        case rebuildThresholdNotMet = "rebuild-threshold-not-met"
        case notReproduced = "not-reproduced"
        case rebuildUntrusted = "rebuild-untrusted"
        case otherRelease = "other-release"
        case rebuildIncomplete = "rebuild-incomplete"
        // proof
        case badCheckpoint = "bad-checkpoint"
        case badEntry = "bad-entry"
        case notIncluded = "not-included"
        case pathMismatch = "path-mismatch"
        // log
        case logSignature = "log-signature"
        case notInLog = "not-in-log"
        case witnessThresholdNotMet = "witness-threshold-not-met"
        case inconsistentWithLastSeen = "inconsistent-with-last-seen"
        // scan
        case scanFinding = "scan"
        case scanSkipped = "scan-skipped"
        case scanExcepted = "scan-excepted"
        case scanExceptionUnused = "scan-exception-unused"
    }

    public let severity: Severity
    public let category: Category
    public let code: Code
    /// For a scan finding, the scan rule that fired (e.g. `bidi-control`).
    public let rule: String?
    /// The path or key the finding is about, escaped for display.
    public let subject: String?
    public let message: String

    init(_ severity: Severity, _ category: Category, _ code: Code, rule: String? = nil, subject: String? = nil, _ message: String) {
        self.severity = severity
        self.category = category
        self.code = code
        self.rule = rule
        self.subject = subject
        self.message = message
    }

    /// The identifier a report shows: the scan rule for scan findings, the code otherwise.
    public var name: String { rule ?? code.rawValue }
}

/// The result of checking a note's signatures against a trust policy.
public struct SignatureVerdict: Sendable {
    /// The keys whose valid signature counted toward the threshold: distinct public keys.
    public let counted: [VerifierKey]
    public let threshold: Int
    public let findings: [Finding]
    public var met: Bool { counted.count >= threshold }
}

/// A manifest whose signatures met the policy and whose entry lines hash to its signed count
/// and root. Only `ReleaseVerifier` makes one.
public struct VerifiedRelease: Sendable {
    public let header: ReleaseHeader
    /// The exact signed note text bytes.
    public let noteText: [UInt8]
    public let count: UInt64
    public let root: [UInt8]
    public let signers: [VerifierKey]

    /// Internal: only the core's verifiers, after checking, make one.
    init(header: ReleaseHeader, noteText: [UInt8], count: UInt64, root: [UInt8], signers: [VerifierKey]) {
        self.header = header
        self.noteText = noteText
        self.count = count
        self.root = root
        self.signers = signers
    }
}

/// Checks the signatures over a note text against `policy` on `day` (YYYY-MM-DD, UTC).
///
/// Unknown keys are ignored; a bad signature by a trusted key is a failure; a valid signature
/// by a key outside its dates or its origins is a note and does not count; one public key
/// counts once, however many names or encodings it is listed or signed under.
public func checkSignatures(text: [UInt8], signatureLines: [[UInt8]], origin: String,
                            policy: TrustPolicy, day: String) -> SignatureVerdict {
    var findings: [Finding] = []
    var counted: [VerifierKey] = []
    let note: SignedNote
    do {
        note = try SignedNote(text: text, signatureLines: signatureLines, firstSignatureLine: 0)
    } catch {
        findings.append(Finding(.failure, .signature, .malformedSignature, "\(error)"))
        return SignatureVerdict(counted: [], threshold: policy.threshold, findings: findings)
    }
    for outcome in note.verify(with: policy.keys.map(\.verifier)) {
        switch outcome {
        case let .invalid(key):
            findings.append(Finding(.failure, .signature, .badSignature, subject: key.name,
                                    "the signature by trusted key \(key.name)+\(hexID(key.keyID)) does not verify"))
        case let .valid(key):
            guard let entry = policy.keys.first(where: { $0.verifier == key }) else { continue }
            if let problem = entry.dateProblem(on: day) {
                findings.append(Finding(.note, .signature, .keyOutsideValidity, subject: key.name,
                                        "valid signature by \(key.name), but the key is \(problem); it does not count"))
            } else if !entry.allows(origin: origin) {
                findings.append(Finding(.note, .signature, .keyNotAllowedForOrigin, subject: key.name,
                                        "valid signature by \(key.name), but the policy does not let it sign \(origin); it does not count"))
            } else if let same = counted.first(where: { $0.canonicalKey == key.canonicalKey }) {
                findings.append(Finding(.note, .signature, .sameKeyAgain, subject: key.name,
                                        "\(key.name) is the same public key as \(same.name), which already counted; it counts once"))
            } else {
                counted.append(key)
            }
        }
    }
    if counted.count < policy.threshold {
        findings.append(Finding(.failure, .signature, .thresholdNotMet,
                                "\(counted.count) of the \(policy.threshold) required trusted signatures"))
    }
    return SignatureVerdict(counted: counted, threshold: policy.threshold, findings: findings)
}

/// The findings for a tree compared with a manifest's entries: every one a failure. With
/// `extrasAreGenerated` (a vendor's tarball against a git tree), paths only in the tree are
/// their own class, `generated`, so an auditor sees at a glance what `make dist` added.
/// `explanations` adds, by path, why a difference may be only what `git archive` makes of the tree.
public func sourceFindings(_ differences: [Difference], extrasAreGenerated: Bool = false,
                           explanations: [[UInt8]: String] = [:]) -> [Finding] {
    differences.map { d in
        let message: String
        let code: Finding.Code
        switch d {
        case let .missing(listed):
            code = .missing
            message = "listed as \(listed.kind.rawValue) but absent"
        case let .extra(found) where extrasAreGenerated:
            code = .generated
            message = "generated (not in the source tree): only in the tarball (\(found.kind.rawValue), \(counting(found.size, "byte"))); not signed"
        case let .extra(found):
            code = .extra
            message = "present (\(found.kind.rawValue), \(counting(found.size, "byte"))) but not listed in the manifest"
        case let .changed(kind, listed, found):
            switch kind {
            case .modified:
                code = .modified
                message = "content differs: \(counting(listed.size, "byte")) sha256 \(hex(listed.digest)) listed, \(counting(found.size, "byte")) sha256 \(hex(found.digest)) found"
            case .kindChanged:
                code = .kindChanged
                message = "listed as \(listed.kind.rawValue), found \(found.kind.rawValue)"
            case .modeChanged:
                code = .modeChanged
                message = "executable bit: listed as \(listed.kind.rawValue), found \(found.kind.rawValue)"
            case .retargeted:
                code = .retargeted
                message = "symlink target differs: sha256 \(hex(listed.digest)) listed, \(hex(found.digest)) found"
            case .submoduleMoved:
                code = .submoduleMoved
                message = "submodule pinned at \(hex(listed.digest)) listed, \(hex(found.digest)) found"
            case .missing, .extra:
                code = kind == .missing ? .missing : .extra
                message = "listed as \(listed.kind.rawValue), found \(found.kind.rawValue)"
            }
        }
        let explained = explanations[d.path].map { message + "; " + $0 } ?? message
        return Finding(.failure, .source, code, subject: Escaping.escape(d.path), explained)
    }
}

/// What the reviewer has of the shipped artifacts: each path given, and what it held.
public struct ObservedArtifacts: Sendable {
    /// A path given on the command line: a single file, or a directory of files.
    public struct Given: Sendable {
        public let path: String
        public let isDirectory: Bool
        /// For a file: one item named by its base name. For a directory: every file under it,
        /// named by its path relative to the directory.
        public let items: [TreeEntry]
        /// For a directory: `.git` entries found in it (reported, never skipped).
        public let gitEntries: [[UInt8]]
        public init(path: String, isDirectory: Bool, items: [TreeEntry], gitEntries: [[UInt8]] = []) {
            self.path = path
            self.isDirectory = isDirectory
            self.items = items
            self.gitEntries = gitEntries
        }
    }
    public let given: [Given]
    public init(given: [Given]) { self.given = given }

    /// How many files were given in all.
    public var fileCount: Int { given.reduce(0) { $0 + $1.items.count } }
}

/// Unlisted artifact files a reviewer said may sit among the artifacts (`--ignore-unlisted`),
/// as gitattributes patterns: without a slash a glob matches a file's name, with one its path
/// relative to the artifact directory.
public struct UnlistedGlob: Sendable {
    /// The glob as given.
    public let glob: String
    let pattern: AttributePattern

    /// - Throws: `FormatError` for a glob that could match no file: `!…` (git refuses a negated
    ///   attributes pattern) or `…/` (directories only).
    public init(_ glob: String) throws {
        let bytes = Array(glob.utf8)
        guard !bytes.isEmpty, bytes.last != UInt8(ascii: "/"), let pattern = AttributePattern(bytes) else {
            throw FormatError(line: nil, "--ignore-unlisted '\(glob)' would match no file: a glob must not be empty, "
                              + "start with '!' or end with '/'")
        }
        self.glob = glob
        self.pattern = pattern
    }

    func matches(_ path: [UInt8]) -> Bool {
        // A reviewer's glob against one artifact path: bounded by their two lengths.
        var steps = Int.max
        return pattern.matches(path[...], steps: &steps)
    }
}

/// Which of the listed artifacts are checked and what may sit beside them unlisted.
public struct ArtifactScope: Sendable {
    /// True when the files given are only some of those listed (`--artifact`): each must be
    /// listed, and a listed artifact not given is reported as not checked rather than missing.
    public var selection = false
    /// Unlisted files matching one of these are reported as ignored instead of failing.
    public var ignoreUnlisted: [UnlistedGlob] = []
    public init(selection: Bool = false, ignoreUnlisted: [UnlistedGlob] = []) {
        self.selection = selection
        self.ignoreUnlisted = ignoreUnlisted
    }
}

/// What an artifact check came to besides its findings, for the report.
public struct ArtifactCheck: Sendable {
    /// Every finding (failures and notes).
    public var findings: [Finding] = []
    /// The listed artifacts compared with a file given (escaped names).
    public var checked: [String] = []
    /// With a selection: the listed artifacts no file was given for (escaped names).
    public var notChecked: [String] = []
    /// Each `--ignore-unlisted` glob and the unlisted files it covered (escaped names), in the
    /// order the globs were given; a file is counted under the first glob that matches it.
    public var ignored: [(glob: String, files: [String])] = []
}

/// The listed name a file given on its own stands for: its path, if listed, or the longest
/// listed name it ends with after a `/` (so `dist/linux/tool` is the listed `linux/tool`),
/// or else its base name.
func selectedName(_ given: String, listed: [[UInt8]: Artifact]) -> [UInt8]? {
    let path = Array(given.utf8)
    if listed[path] != nil { return path }
    var best: [UInt8]?
    for name in listed.keys where path.count > name.count && path.suffix(name.count).elementsEqual(name)
        && path[path.count - name.count - 1] == UInt8(ascii: "/") {
        if name.count > best?.count ?? -1 { best = name }
    }
    return best
}

/// Compares observed artifacts with those the manifest lists: every file found is compared
/// (none can hide behind another of the same name), files under one name from two places are
/// a failure naming both, and so are missing, modified and unlisted files.
public func artifactFindings(listed: [Artifact], observed: ObservedArtifacts) -> [Finding] {
    checkArtifacts(listed: listed, observed: observed).findings
}

/// As `artifactFindings`, within `scope`: with a selection, a listed artifact not given is a
/// note naming it (never a silent pass); an unlisted file matching an `ignoreUnlisted` glob is
/// a note naming the glob. Symlinks, `.git` entries and two files under one name fail whatever
/// the globs say.
public func checkArtifacts(listed: [Artifact], observed: ObservedArtifacts, scope: ArtifactScope = ArtifactScope()) -> ArtifactCheck {
    var out = ArtifactCheck()
    var listedByName: [[UInt8]: Artifact] = [:]
    for artifact in listed { listedByName[artifact.name] = artifact }
    var ignored = scope.ignoreUnlisted.map { (glob: $0.glob, files: [String]()) }
    var seen: [[UInt8]: String] = [:]
    for given in observed.given {
        for git in given.gitEntries {
            out.findings.append(Finding(.failure, .artifact, .unlisted, subject: Escaping.escape(git),
                                        "a .git entry in the artifact directory \(given.path); nothing unlisted may sit among the artifacts"))
        }
        for var item in given.items {
            if scope.selection && !given.isDirectory, let name = selectedName(given.path, listed: listedByName) { item.path = name }
            let name = Escaping.escape(item.path)
            let place = given.isDirectory ? "in the artifact directory \(given.path)" : "given as \(given.path)"
            if let earlier = seen[item.path] {
                out.findings.append(Finding(.failure, .artifact, .sameName, subject: name,
                                            "two artifact files have this name: one \(earlier), one \(place)"))
            } else {
                seen[item.path] = place
            }
            if item.kind == .link {
                out.findings.append(Finding(.failure, .artifact, .notAFile, subject: name, "is a symlink \(place); artifacts are regular files"))
                continue
            }
            guard let artifact = listedByName[item.path] else {
                if let glob = scope.ignoreUnlisted.firstIndex(where: { $0.matches(item.path) }) {
                    ignored[glob].files.append(name)
                    out.findings.append(Finding(.note, .artifact, .ignoredUnlisted, subject: name,
                                                "\(place), not listed in the manifest; ignored (--ignore-unlisted '\(ignored[glob].glob)')"))
                } else {
                    out.findings.append(Finding(.failure, .artifact, .unlisted, subject: name, "\(place) but not listed in the manifest"))
                }
                continue
            }
            out.checked.append(name)
            if item.size != artifact.size || !constantTimeEquals(item.digest, artifact.sha256) {
                out.findings.append(Finding(.failure, .artifact, .modified, subject: name,
                                            "\(counting(artifact.size, "byte")) sha256 \(hex(artifact.sha256)) listed, "
                                            + "\(counting(item.size, "byte")) sha256 \(hex(item.digest)) found \(place)"))
            }
        }
    }
    for artifact in listed where seen[artifact.name] == nil {
        let name = Escaping.escape(artifact.name)
        if scope.selection {
            out.notChecked.append(name)
            out.findings.append(Finding(.note, .artifact, .notChecked, subject: name,
                                        "listed in the manifest; not checked: no --artifact file was given for it"))
        } else {
            out.findings.append(Finding(.failure, .artifact, .missing, subject: name,
                                        "listed in the manifest but not among the artifacts given"))
        }
    }
    out.ignored = ignored
    return out
}

/// Scan findings as verification findings: failures when `failOn` fails them, notes
/// otherwise. A finding a reviewed exception covers is a note that names the exception and its
/// reason; an exception that covered nothing is a note too, so none hides anything unseen.
public func scanVerificationFindings(_ findings: [ScanFinding], failOn: ScanThreshold,
                                     exceptions: ScanExceptions? = nil) -> [Finding] {
    func describe(_ f: ScanFinding) -> (subject: String, message: String) {
        let place = f.line.map { ":\($0)" + (f.column.map { ":\($0)" } ?? "") } ?? ""
        let points = f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]"
        return (f.path + place, "\(f.severity.rawValue): \(f.message)\(points)")
    }
    let split = exceptions?.apply(to: findings)
    var out = (split?.kept ?? findings).map { f in
        let (subject, message) = describe(f)
        return Finding(failOn.fails(f.severity) ? .failure : .note, .scan, .scanFinding, rule: f.rule, subject: subject, message)
    }
    guard let exceptions, let split else { return out }
    for (f, exception) in split.excepted {
        let (subject, message) = describe(f)
        out.append(Finding(.note, .scan, .scanExcepted, rule: f.rule, subject: subject,
                           "\(message); excepted by \(exceptions.source):\(exception.line): \(exception.reason)"))
    }
    for exception in split.unused {
        out.append(Finding(.note, .scan, .scanExceptionUnused, subject: "\(exceptions.source):\(exception.line)",
                           "the exception for \(exception.rule) \(exception.path) (\(exception.fingerprint)) matched no finding"))
    }
    return out
}

/// What a transparency-log check needs: the proof, the keys, and what was seen before.
public struct LogCheck: Sendable {
    public let proof: FileProof
    public let logKey: VerifierKey
    public let witnesses: [CosignatureKey]
    public let witnessThreshold: Int
    /// The last checkpoint seen by this reviewer, if any, and a consistency proof from it.
    public let lastSeen: Checkpoint?
    public let consistency: ConsistencyProof?

    /// - Throws: `LogCheckError` when two witness keys are one key, or the threshold is not
    ///   between 1 and the number of witnesses (0 only when there are none).
    public init(proof: FileProof, logKey: VerifierKey, witnesses: [CosignatureKey], witnessThreshold: Int?,
                lastSeen: Checkpoint?, consistency: ConsistencyProof?) throws {
        for (index, key) in witnesses.enumerated() where witnesses[..<index].contains(where: { $0.publicKey.encoded == key.publicKey.encoded }) {
            throw LogCheckError("the witness key \(key.name) is given twice (one key counts once)")
        }
        let threshold = witnessThreshold ?? witnesses.count
        if witnesses.isEmpty, threshold != 0 {
            throw LogCheckError("a witness threshold needs witness keys (--witness)")
        }
        if !witnesses.isEmpty, !(1...witnesses.count).contains(threshold) {
            throw LogCheckError("the witness threshold must be between 1 and the \(witnesses.count) witness keys given, not \(threshold)")
        }
        self.proof = proof
        self.logKey = logKey
        self.witnesses = witnesses
        self.witnessThreshold = threshold
        self.lastSeen = lastSeen
        self.consistency = consistency
    }
}

/// Log options that cannot go together.
public struct LogCheckError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Checks that `entry` (a manifest's note text) is in the log: the inclusion proof under the
/// checkpoint, the log's signature, enough witness cosignatures, and consistency with the last
/// checkpoint seen. Returns the checkpoint when it may become the new last-seen one.
public func verifyLogInclusion(entry: [UInt8], _ check: LogCheck) -> (checkpoint: Checkpoint?, findings: [Finding]) {
    var findings: [Finding] = []
    let note = check.proof.note
    let checkpoint: Checkpoint
    do { checkpoint = try Checkpoint(parsing: note.text) } catch {
        return (nil, [Finding(.failure, .log, .badCheckpoint, "the log proof's checkpoint does not parse: \(error)")])
    }
    do { _ = try note.open(with: [check.logKey]) } catch {
        findings.append(Finding(.failure, .log, .logSignature, subject: check.logKey.name, "the checkpoint is not signed by the log key"))
    }
    do {
        try Merkle.verifyInclusion(index: check.proof.index, size: checkpoint.size, leafHash: Merkle.leafHash(entry),
                                   proof: check.proof.hashes, root: checkpoint.root)
    } catch {
        findings.append(Finding(.failure, .log, .notInLog, "the release is not in the log at index \(check.proof.index): \(error)"))
    }
    let cosigned = check.witnesses.filter { $0.verify(note.signatures, checkpointText: note.text) != nil }
    if cosigned.count < check.witnessThreshold {
        findings.append(Finding(.failure, .log, .witnessThresholdNotMet,
                                "\(cosigned.count) of the \(check.witnessThreshold) required witness cosignatures"
                                + (cosigned.isEmpty ? "" : " (\(cosigned.map(\.name).joined(separator: ", ")))")))
    }
    if let old = check.lastSeen, let refusal = checkConsistency(old: old, new: checkpoint, proof: check.consistency) {
        findings.append(Finding(.failure, .log, .inconsistentWithLastSeen, refusal))
    }
    return (findings.isEmpty ? checkpoint : nil, findings)
}

/// Why `new` cannot follow `old` in the same log, or nil when it does (equal, or proven by `proof`).
public func checkConsistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof?) -> String? {
    let both = "last seen \(old.summary); now \(new.summary)"
    if !old.origin.utf8.elementsEqual(new.origin.utf8) { return "a different log origin: \(both)" }
    if new.size < old.size { return "rollback: the tree is smaller than one seen before: \(both)" }
    if new.size == old.size {
        return constantTimeEquals(old.root, new.root) ? nil : "split view: same size, different root: \(both)"
    }
    if old.size == 0 { return nil }
    guard let proof, proof.oldSize == old.size, proof.newSize == new.size else {
        return "no consistency proof from size \(old.size) to \(new.size): \(both)"
    }
    do {
        try Merkle.verifyConsistency(size1: old.size, size2: new.size, proof: proof.hashes, root1: old.root, root2: new.root)
        return nil
    } catch {
        return "split view: the tree does not extend the one seen before (\(error)): \(both)"
    }
}

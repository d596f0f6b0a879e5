import GlassboxCrypto
import GlassboxGit

/// One thing a verification found. Failures make the verdict fail; notes do not.
public struct Finding: Sendable, Equatable {
    public enum Severity: String, Sendable { case failure, note }
    /// The group a report puts it in.
    public enum Category: String, Sendable, CaseIterable {
        case signature, integrity, source, artifact, proof, log, scan
    }

    public var severity: Severity
    public var category: Category
    /// A stable identifier, such as `bad-signature` or `modified`.
    public var code: String
    /// The path or key the finding is about, escaped for display.
    public var subject: String?
    public var message: String

    public init(_ severity: Severity, _ category: Category, _ code: String, subject: String? = nil, _ message: String) {
        self.severity = severity
        self.category = category
        self.code = code
        self.subject = subject
        self.message = message
    }
}

/// The result of checking a manifest's signatures against a trust policy.
public struct SignatureVerdict: Sendable {
    /// The keys whose valid signature counted toward the threshold.
    public var counted: [VerifierKey]
    public var threshold: Int
    public var findings: [Finding]
    public var met: Bool { counted.count >= threshold }
}

/// A manifest whose signatures met the policy and whose entries hash to its signed root.
/// Only `verifySignedManifest` makes one.
public struct VerifiedRelease: Sendable {
    public let manifest: Manifest
    public let signers: [VerifierKey]
    fileprivate init(manifest: Manifest, signers: [VerifierKey]) {
        self.manifest = manifest
        self.signers = signers
    }
}

/// Checks the signatures over a note text against `policy` on `day` (YYYY-MM-DD, UTC).
///
/// Unknown keys are ignored; a bad signature by a trusted key is a failure; a valid signature
/// by a key outside its dates or its origins is a note and does not count.
public func checkSignatures(text: [UInt8], signatureLines: [[UInt8]], origin: String,
                            policy: TrustPolicy, day: String) -> SignatureVerdict {
    var findings: [Finding] = []
    var counted: [VerifierKey] = []
    let note: SignedNote
    do {
        note = try SignedNote(text: text, signatureLines: signatureLines, firstSignatureLine: 0)
    } catch {
        findings.append(Finding(.failure, .signature, "malformed-signature", "\(error)"))
        return SignatureVerdict(counted: [], threshold: policy.threshold, findings: findings)
    }
    for outcome in note.verify(with: policy.keys.map(\.verifier)) {
        switch outcome {
        case let .invalid(key):
            findings.append(Finding(.failure, .signature, "bad-signature", subject: key.name,
                                    "the signature by trusted key \(key.name)+\(hexID(key.keyID)) does not verify"))
        case let .valid(key):
            let entry = policy.keys.first { $0.verifier == key }!
            if let problem = entry.dateProblem(on: day) {
                findings.append(Finding(.note, .signature, "key-outside-validity", subject: key.name,
                                        "valid signature by \(key.name), but the key is \(problem); it does not count"))
            } else if !entry.allows(origin: origin) {
                findings.append(Finding(.note, .signature, "key-not-allowed-for-origin", subject: key.name,
                                        "valid signature by \(key.name), but the policy does not let it sign \(origin); it does not count"))
            } else {
                counted.append(key)
            }
        }
    }
    if counted.count < policy.threshold {
        findings.append(Finding(.failure, .signature, "threshold-not-met",
                                "\(counted.count) of the \(policy.threshold) required trusted signatures"))
    }
    return SignatureVerdict(counted: counted, threshold: policy.threshold, findings: findings)
}

/// Checks a manifest's signatures and its internal integrity (count and root).
/// Returns the verified release only when both hold, and every finding either way.
public func verifySignedManifest(_ manifest: Manifest, policy: TrustPolicy, day: String)
    -> (release: VerifiedRelease?, verdict: SignatureVerdict, findings: [Finding]) {
    let verdict = checkSignatures(text: manifest.noteText, signatureLines: manifest.signatureLines,
                                  origin: manifest.header.origin, policy: policy, day: day)
    var findings = verdict.findings
    if manifest.count != manifest.entryCount {
        findings.append(Finding(.failure, .integrity, "count-mismatch",
                                "the signed count is \(manifest.count) but the manifest has \(manifest.entryCount) entry lines"))
    }
    if !constantTimeEquals(manifest.root, manifest.computedRoot) {
        findings.append(Finding(.failure, .integrity, "root-mismatch",
                                "the entry lines hash to \(base64(manifest.computedRoot)), not the signed root \(base64(manifest.root))"))
    }
    let ok = verdict.met && !findings.contains { $0.severity == .failure }
    return (ok ? VerifiedRelease(manifest: manifest, signers: verdict.counted) : nil, verdict, findings)
}

/// The findings for a tree compared with the manifest's entries.
public func sourceFindings(_ differences: [Difference]) -> [Finding] {
    differences.map { d in
        let path = Escaping.escape(d.path)
        let message: String = switch d.kind {
        case .modified: "content differs: \(d.expected!.size) bytes sha256 \(hex(d.expected!.digest)) listed, \(d.actual!.size) bytes sha256 \(hex(d.actual!.digest)) found"
        case .missing: "listed as \(d.expected!.kind.rawValue) but absent"
        case .extra: "present (\(d.actual!.kind.rawValue), \(d.actual!.size) bytes) but not listed in the manifest"
        case .kindChanged: "listed as \(d.expected!.kind.rawValue), found \(d.actual!.kind.rawValue)"
        case .modeChanged: "executable bit: listed as \(d.expected!.kind.rawValue), found \(d.actual!.kind.rawValue)"
        case .retargeted: "symlink target differs: sha256 \(hex(d.expected!.digest)) listed, \(hex(d.actual!.digest)) found"
        case .submoduleMoved: "submodule pinned at \(hex(d.expected!.digest)) listed, \(hex(d.actual!.digest)) found"
        }
        return Finding(.failure, .source, d.kind.rawValue, subject: path, message)
    }
}

/// What the reviewer has of the shipped artifacts: each path given, and what it held.
public struct ObservedArtifacts: Sendable {
    /// A path given on the command line: a single file, or a directory of files.
    public struct Given: Sendable {
        public var path: String
        public var isDirectory: Bool
        /// For a file: one item named by its base name. For a directory: every file under it,
        /// named by its path relative to the directory.
        public var items: [TreeEntry]
        public init(path: String, isDirectory: Bool, items: [TreeEntry]) {
            self.path = path
            self.isDirectory = isDirectory
            self.items = items
        }
    }
    public var given: [Given]
    public init(given: [Given]) { self.given = given }
}

/// Compares observed artifacts with those the manifest lists: missing, modified, and files in a
/// given directory (or given files) that the manifest does not list.
public func artifactFindings(listed: [Artifact], observed: ObservedArtifacts) -> [Finding] {
    var findings: [Finding] = []
    var found: [[UInt8]: TreeEntry] = [:]
    for given in observed.given {
        for item in given.items {
            let name = Escaping.escape(item.path)
            if item.kind == .link {
                findings.append(Finding(.failure, .artifact, "not-a-file", subject: name, "is a symlink in \(given.path); artifacts are regular files"))
                continue
            }
            found[item.path] = item
            if !listed.contains(where: { $0.name == item.path }) {
                findings.append(Finding(.failure, .artifact, "unlisted", subject: name,
                                        "\(given.isDirectory ? "in the artifact directory \(given.path)" : "given") but not listed in the manifest"))
            }
        }
    }
    for artifact in listed {
        let name = Escaping.escape(artifact.name)
        guard let item = found[artifact.name] else {
            findings.append(Finding(.failure, .artifact, "missing", subject: name, "listed in the manifest but not among the artifacts given"))
            continue
        }
        if item.size != artifact.size || !constantTimeEquals(item.digest, artifact.sha256) {
            findings.append(Finding(.failure, .artifact, "modified", subject: name,
                                    "\(artifact.size) bytes sha256 \(hex(artifact.sha256)) listed, \(item.size) bytes sha256 \(hex(item.digest)) found"))
        }
    }
    return findings
}

/// Scan findings as verification findings: failures at or above `failOn`, notes otherwise.
public func scanVerificationFindings(_ findings: [ScanFinding], failOn: ScanFinding.Severity?) -> [Finding] {
    findings.map { f in
        let place = f.line.map { ":\($0)" + (f.column.map { ":\($0)" } ?? "") } ?? ""
        let points = f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]"
        let fails = failOn.map { f.severity >= $0 } ?? false
        return Finding(fails ? .failure : .note, .scan, f.rule, subject: f.path + place,
                       "\(f.severity.rawValue): \(f.message)\(points)")
    }
}

/// What a transparency-log check needs: the proof, the keys, and what was seen before.
public struct LogCheck: Sendable {
    public var proof: FileProof
    public var logKey: VerifierKey
    public var witnesses: [CosignatureKey]
    public var witnessThreshold: Int
    /// The last checkpoint seen by this reviewer, if any, and a consistency proof from it.
    public var lastSeen: Checkpoint?
    public var consistency: ConsistencyProof?

    public init(proof: FileProof, logKey: VerifierKey, witnesses: [CosignatureKey], witnessThreshold: Int,
                lastSeen: Checkpoint?, consistency: ConsistencyProof?) {
        self.proof = proof
        self.logKey = logKey
        self.witnesses = witnesses
        self.witnessThreshold = witnessThreshold
        self.lastSeen = lastSeen
        self.consistency = consistency
    }
}

/// Checks that `entry` (a manifest's note text) is in the log: the inclusion proof under the
/// checkpoint, the log's signature, enough witness cosignatures, and consistency with the last
/// checkpoint seen. Returns the checkpoint when it may become the new last-seen one.
public func verifyLogInclusion(entry: [UInt8], _ check: LogCheck) -> (checkpoint: Checkpoint?, findings: [Finding]) {
    var findings: [Finding] = []
    let note = check.proof.note
    let checkpoint: Checkpoint
    do { checkpoint = try Checkpoint(parsing: note.text) } catch {
        return (nil, [Finding(.failure, .log, "bad-checkpoint", "the log proof's checkpoint does not parse: \(error)")])
    }
    do { _ = try note.open(with: [check.logKey]) } catch {
        findings.append(Finding(.failure, .log, "log-signature", subject: check.logKey.name, "the checkpoint is not signed by the log key"))
    }
    do {
        try Merkle.verifyInclusion(index: check.proof.index, size: checkpoint.size, leafHash: Merkle.leafHash(entry),
                                   proof: check.proof.hashes, root: checkpoint.root)
    } catch {
        findings.append(Finding(.failure, .log, "not-in-log", "the release is not in the log at index \(check.proof.index): \(error)"))
    }
    let cosigned = check.witnesses.filter { $0.verify(note.signatures, checkpointText: note.text) != nil }
    if cosigned.count < check.witnessThreshold {
        findings.append(Finding(.failure, .log, "witness-threshold-not-met",
                                "\(cosigned.count) of the \(check.witnessThreshold) required witness cosignatures"
                                + (cosigned.isEmpty ? "" : " (\(cosigned.map(\.name).joined(separator: ", ")))")))
    }
    if let old = check.lastSeen, let refusal = checkConsistency(old: old, new: checkpoint, proof: check.consistency) {
        findings.append(Finding(.failure, .log, "inconsistent-with-last-seen", refusal))
    }
    return (findings.isEmpty ? checkpoint : nil, findings)
}

/// Why `new` cannot follow `old` in the same log, or nil when it does (equal, or proven by `proof`).
public func checkConsistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof?) -> String? {
    let both = "last seen \(old.summary); now \(new.summary)"
    if old.origin != new.origin { return "a different log origin: \(both)" }
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

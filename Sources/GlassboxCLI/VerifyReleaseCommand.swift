import ArgumentParser
import Foundation
import Glassbox
import GlassboxGit

/// `verify-release`: the reviewer's offline check of a signed release.
public struct VerifyReleaseCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify-release",
        abstract: "Check, offline, that a source tree and artifacts are exactly what trusted keys signed.",
        discussion: """
            verify-release --manifest M --trust T (--repo R [--rev REV] | --dir D) [--artifacts PATH...]
            verify-release --proof P --trust T FILE
            Exit 0 verified, 1 verification failed, 2 bad input, 64 usage.
            """)

    @Option(name: .long, help: "The signed manifest.")
    var manifest: String?

    @Option(name: .long, help: "The trust policy.")
    var trust: String

    @Option(name: .long, help: "A git repository holding the release (read from its objects).")
    var repo: String?

    @Option(name: .long, help: "The revision to check (default: the commit the manifest names).")
    var rev: String?

    @Option(name: .long, help: "A directory holding the release.")
    var dir: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Shipped artifacts: files, or directories of files.")
    var artifacts: [String] = []

    @Option(name: .long, help: "A per-file proof (from `glassbox prove`); give the file to check as the argument.")
    var proof: String?

    @Argument(help: "With --proof: the file to check.")
    var file: String?

    @Flag(name: .long, help: "Print JSON (media type \(VerificationReport.mediaType)).")
    var json = false

    @Flag(name: .long, help: "Print only the verdict line; no progress.")
    var quiet = false

    @Option(name: .long, help: "Worker threads (default: one per core).")
    var workers: Int?

    @Option(name: .long, help: "Scan findings at or above this severity (note, warning, error) fail verification; overrides the policy's scan-fail-on.")
    var failOn: String?

    @Flag(name: .long, help: "Do not scan for hidden content (bidi controls, invisible characters, …): weakens what is checked.")
    var skipScanUnsafe = false

    @Flag(name: .long, help: "Scan strictly: every bidi control and invisible character.")
    var strictScan = false

    @Option(name: .long, help: "A log inclusion proof for the manifest (from `glassbox log prove`).")
    var logProof: String?

    @Option(name: .long, help: "The transparency log's verifier key (.pub file or vkey text).")
    var logKey: String?

    @Option(name: .long, help: "A witness's cosignature key (type 0x04 vkey; repeatable).")
    var witness: [String] = []

    @Option(name: .long, help: "How many of the --witness keys must have cosigned (default: all).")
    var witnessThreshold: Int?

    @Option(name: .long, help: "The last log checkpoint this reviewer saw; checked for consistency and updated.")
    var state: String?

    @Option(name: .long, help: "A consistency proof from the state's checkpoint to the proof's (from `glassbox log consistency`).")
    var logConsistency: String?

    public init() {}

    public func validate() throws {
        if proof != nil {
            guard file != nil, manifest == nil, repo == nil, dir == nil, artifacts.isEmpty else {
                throw ValidationError("--proof P takes the file to check, and no --manifest, --repo, --dir or --artifacts")
            }
            return
        }
        guard manifest != nil else { throw ValidationError("give --manifest M (or --proof P FILE)") }
        guard (repo == nil) != (dir == nil) else { throw ValidationError("give exactly one of --repo or --dir") }
        if dir != nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if file != nil { throw ValidationError("a FILE argument goes with --proof") }
        if let failOn, ScanFinding.Severity(rawValue: failOn) == nil { throw ValidationError("--fail-on takes note, warning or error") }
        if (logProof == nil) != (logKey == nil) { throw ValidationError("--log-proof and --log-key go together") }
        if logProof == nil && (!witness.isEmpty || state != nil || logConsistency != nil) {
            throw ValidationError("--witness, --state and --log-consistency need --log-proof")
        }
    }

    public func run() throws {
        try runReporting {
            let policy = try loadPolicy(trust)
            let report = try proof != nil ? verifyProof(policy) : verifyTree(policy)
            if json {
                try writeOutput(renderJSON(report), to: nil)
            } else {
                print(quiet ? report.verdictLine : report.text, terminator: quiet ? "\n" : "")
            }
            return report.verified ? Exit.verified : Exit.failed
        }
    }

    private func verifyTree(_ policy: TrustPolicy) throws -> VerificationReport {
        let manifestPath = manifest!
        var fallback = "HEAD"
        if case let .git(commit, _, _, _) = try loadManifestHeader(manifestPath).source { fallback = commit }
        let source = SourceOptions(repo: repo, rev: rev, dir: dir, workers: workers, quiet: quiet)
        // One pass over the tree both hashes it and scans it.
        var options = ScanOptions()
        options.strict = strictScan
        let collector: ScanCollector? = skipScanUnsafe ? nil : ScanCollector(options: options)
        var inspect: ContentInspector?
        if let collector { inspect = { collector.inspect($0) } }
        let snapshot = try source.read(fallbackRevision: fallback, inspect: inspect)
        let (parsed, differences) = try compareWithManifest(manifestPath, actual: snapshot.entries)
        let (release, verdict, integrity) = verifySignedManifest(parsed, policy: policy, day: todayUTC())
        var findings = integrity
        findings += sourceFindings(differences)
        if let collector {
            findings += scanVerificationFindings(collector.findings(entries: snapshot.entries),
                                                 failOn: failOn.flatMap(ScanFinding.Severity.init) ?? policy.scanFailOn)
        } else {
            findings.append(Finding(.note, .scan, "scan-skipped", "the hidden-content scan was skipped (--skip-scan-unsafe)"))
        }
        var newState: Checkpoint?
        var logLine: String?
        if let logProof, let logKey {
            let check = try loadLogCheck(logProof, logKey)
            let (checkpoint, logFindings) = verifyLogInclusion(entry: parsed.noteText, check)
            findings += logFindings
            newState = checkpoint
            if let cp = try? Checkpoint(parsing: check.proof.note.text) {
                let cosigners = check.witnesses.filter { $0.verify(check.proof.note.signatures, checkpointText: check.proof.note.text) != nil }
                logLine = "\(cp.origin): index \(check.proof.index) of \(cp.size); cosigned by \(cosigners.count) of \(check.witnessThreshold) required witnesses"
                    + (cosigners.isEmpty ? "" : " (\(cosigners.map(\.name).joined(separator: ", ")))")
            }
        }
        var artifactsChecked = 0
        if !artifacts.isEmpty {
            let observed = try observeArtifacts(artifacts, workers: workers ?? defaultWorkerCount)
            findings += artifactFindings(listed: parsed.header.artifacts, observed: observed)
            artifactsChecked = observed.given.reduce(0) { $0 + $1.items.count }
        } else if !parsed.header.artifacts.isEmpty {
            findings.append(Finding(.note, .artifact, "not-checked",
                                    "the manifest lists \(parsed.header.artifacts.count) artifacts; none were given (--artifacts)"))
        }
        let place = repo.map { "git \($0) at \(rev ?? fallback)" } ?? "directory \(dir!)"
        var report = VerificationReport(header: parsed.header, verdict: verdict, findings: findings,
                                  verified: release != nil && !findings.contains { $0.severity == .failure },
                                  checked: .init(source: place, entriesListed: Int(parsed.entryCount),
                                                 entriesFound: snapshot.entries.count,
                                                 artifactsListed: parsed.header.artifacts.count,
                                                 artifactsChecked: artifactsChecked))
        report.scanRan = !skipScanUnsafe
        report.log = logLine
        // The state moves forward only when the whole release verified.
        if report.verified, let state, let newState { try writeOutput(newState.text, to: state) }
        return report
    }

    private func verifyProof(_ policy: TrustPolicy) throws -> VerificationReport {
        let proofPath = proof!
        let parsed: FileProof
        do { parsed = try FileProof(parsing: try readFile(proofPath)) } catch let error as FormatError {
            throw UserError("\(proofPath)\(error.line.map { ":\($0)" } ?? ""): \(error.message)")
        }
        let actual = try DirectoryReader.readSingle(path: file!)
        let result = parsed.verify(actual: actual, policy: policy, day: todayUTC())
        let verified = result.verdict?.met == true && !result.findings.contains { $0.severity == .failure }
        return VerificationReport(header: result.header, verdict: result.verdict, findings: result.findings,
                                  verified: verified,
                                  checked: .init(source: "file \(file!) as \(result.entry.map { Escaping.escape($0.path) } ?? "?")",
                                                 entriesListed: 1, entriesFound: 1, artifactsListed: 0, artifactsChecked: 0))
    }
}

extension VerifyReleaseCommand {
    func loadLogCheck(_ proofPath: String, _ keyArgument: String) throws -> LogCheck {
        let proof: FileProof
        do { proof = try FileProof(parsing: try readFile(proofPath)) } catch let error as FormatError {
            throw UserError("\(proofPath)\(error.line.map { ":\($0)" } ?? ""): \(error.message)")
        }
        func text(_ argument: String) throws -> String {
            FileManager.default.fileExists(atPath: argument) ? String(decoding: try readFile(argument), as: UTF8.self) : argument
        }
        let logKey = try parseVKey(try text(keyArgument), keyArgument)
        let witnesses = try witness.map { argument in
            do { return try CosignatureKey(parsing: try text(argument).trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
                throw UserError("\(argument): \(error)")
            }
        }
        var lastSeen: Checkpoint?
        if let state, FileManager.default.fileExists(atPath: state) {
            do { lastSeen = try Checkpoint(parsing: try readFile(state)) } catch { throw UserError("\(state): \(error)") }
        }
        let consistency = try logConsistency.map { path in
            do { return try ConsistencyProof(parsing: try readFile(path)) } catch { throw UserError("\(path): \(error)") }
        }
        return LogCheck(proof: proof, logKey: logKey, witnesses: witnesses,
                        witnessThreshold: witnessThreshold ?? witnesses.count, lastSeen: lastSeen, consistency: consistency)
    }
}

extension SourceOptions {
    init(repo: String?, rev: String?, dir: String?, workers: Int?, quiet: Bool) {
        self.init()
        self.repo = repo
        self.rev = rev
        self.dir = dir
        self.workers = workers
        self.quiet = quiet
    }
}

/// What verify-release prints: verdict first, then what was checked, then every finding by group.
struct VerificationReport: Encodable {
    static let mediaType = "application/vnd.glassbox.verification.v1+json"

    struct Checked: Encodable {
        var source: String
        var entriesListed: Int
        var entriesFound: Int
        var artifactsListed: Int
        var artifactsChecked: Int
    }

    struct Item: Encodable {
        var severity: String
        var category: String
        var code: String
        var subject: String?
        var message: String
    }

    var mediaType = VerificationReport.mediaType
    var verified: Bool
    var origin: String?
    var name: String?
    var version: String?
    var commit: String?
    var signers: [String]
    var threshold: Int?
    var checked: Checked
    /// Whether the hidden-content scan ran.
    var scanRan = false
    /// The transparency-log check, when one was asked for.
    var log: String?
    var findings: [Item]

    init(header: ReleaseHeader?, verdict: SignatureVerdict?, findings: [Finding], verified: Bool, checked: Checked) {
        self.verified = verified
        origin = header?.origin
        name = header?.name
        version = header?.version
        if case let .git(commit, _, _, _) = header?.source { self.commit = commit }
        signers = verdict?.counted.map(\.description) ?? []
        threshold = verdict?.threshold
        self.checked = checked
        self.findings = findings.map {
            Item(severity: $0.severity.rawValue, category: $0.category.rawValue, code: $0.code, subject: $0.subject, message: $0.message)
        }
    }

    private var failures: Int { findings.filter { $0.severity == "failure" }.count }

    var verdictLine: String {
        verified ? "verify-release: VERIFIED \(name ?? "?") \(version ?? "?") (\(origin ?? "?"))"
            : "verify-release: FAILED \(name ?? "?") \(version ?? "?") (\(origin ?? "?")): \(failures) problem\(failures == 1 ? "" : "s")"
    }

    var text: String {
        var lines = [verdictLine, ""]
        lines.append("release    \(name ?? "?") \(version ?? "?")")
        lines.append("origin     \(origin ?? "?")")
        if let commit { lines.append("commit     \(commit)") }
        let names = signers.map { String($0.split(separator: "+").first ?? "") }
        lines.append("signers    \(signers.count) of \(threshold ?? 0) required\(names.isEmpty ? "" : ": " + names.joined(separator: ", "))")
        lines.append("checked    \(checked.source): \(checked.entriesListed) entries listed, \(checked.entriesFound) found")
        if let log { lines.append("log        \(log)") }
        let scanned = findings.filter { $0.category == "scan" && $0.code != "scan-skipped" }
        if scanRan {
            let failing = scanned.filter { $0.severity == "failure" }.count
            lines.append("scan       \(scanned.count) finding\(scanned.count == 1 ? "" : "s")\(failing > 0 ? ", \(failing) failing" : "")")
        }
        if checked.artifactsListed > 0 || checked.artifactsChecked > 0 {
            lines.append("artifacts  \(checked.artifactsListed) listed, \(checked.artifactsChecked) files given")
        }
        if !findings.isEmpty { lines.append("") }
        for category in Finding.Category.allCases {
            let group = findings.filter { $0.category == category.rawValue }
            if group.isEmpty { continue }
            lines.append("\(category.rawValue) (\(group.count)):")
            for f in group {
                let mark = f.severity == "failure" ? "✗" : "·"
                lines.append("  \(mark) \(f.code)\(f.subject.map { " \($0)" } ?? ""): \(f.message)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `glassbox prove`: a per-file proof against a signed manifest.
struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Write a self-contained proof (C2SP tlog-proof@v1 shape) that one path is in a signed release.")

    @Argument(help: "The signed manifest.")
    var manifest: String

    @Argument(help: "The path in the release, as the manifest lists it (escaped form).")
    var path: String

    @Option(name: [.customShort("o"), .long], help: "Write the proof here (atomically) instead of stdout.")
    var output: String?

    func run() throws {
        try runReporting {
            let parsed = try loadManifest(manifest)
            guard let raw = Escaping.unescape(Array(path.utf8)) else {
                throw UserError("'\(path)' is not a path in the manifest's escaped form")
            }
            let proof: FileProof
            do { proof = try FileProof.make(manifest: parsed, path: raw) } catch let error as FormatError {
                throw UserError("\(manifest): \(error.message)")
            }
            try writeOutput(proof.render(), to: output)
            return Exit.verified
        }
    }
}

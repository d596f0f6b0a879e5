import ArgumentParser
import Foundation
import GlassboxScan
import Glassbox
import GlassboxGit

/// `verify-release`: the reviewer's offline check of a signed release.
public struct VerifyReleaseCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify-release",
        abstract: "Check, offline, that a source tree and artifacts are exactly what trusted keys signed.",
        discussion: """
            verify-release --manifest M --trust T
              (--repo R [--rev REV] | --dir D | --tarball T)
              [--artifacts PATH... [--ignore-unlisted GLOB...] | --artifact FILE...]
              [--rebuild-attestation FILE...] [--html FILE] [--color WHEN]
            verify-release --proof P --trust T FILE
            Exit 0 verified, 1 verification failed, 2 bad input, 64 usage.
            """,
        version: GlassboxVersion.string)

    @Option(name: .long, help: "The signed manifest.", completion: .file())
    var manifest: String?

    @Option(name: .long, help: "The trust policy.", completion: .file())
    var trust: String

    @Option(name: .long, help: "A git repository holding the release (read from its objects).", completion: .directory)
    var repo: String?

    @Option(name: .long, help: "The revision to check (default: the commit the manifest names).")
    var rev: String?

    @Option(name: .long, help: "A directory holding the release.", completion: .directory)
    var dir: String?

    @OptionGroup var tarballOptions: TarballOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Shipped artifacts: files, or directories of files.", completion: .file())
    var artifacts: [String] = []

    @Option(name: .long, help: "One shipped artifact file to check (repeatable): only these are checked, each must be listed, and the report names every listed artifact not checked.", completion: .file())
    var artifact: [String] = []

    @Option(name: .long, help: "With --artifacts: unlisted files matching this glob (gitattributes syntax, e.g. '*.sig'; repeatable) do not fail; the report names each glob and every file it ignored.")
    var ignoreUnlisted: [String] = []

    @Option(name: .long, help: "A signed rebuild attestation (repeatable), checked against the policy's rebuilder keys and rebuild-threshold.", completion: .file())
    var rebuildAttestation: [String] = []

    @Option(name: .long, help: "A per-file proof (from `glassbox prove`); give the file to check as the argument.", completion: .file())
    var proof: String?

    @Argument(help: "With --proof: the file to check.", completion: .file())
    var file: String?

    @Option(name: .long, help: "With --proof: the file's path in the release, when the file given is that path under another name.")
    var path: String?

    @Flag(name: .long, help: "Print JSON (media type \(VerificationReport.mediaType)).")
    var json = false

    @Flag(name: .long, help: "Print only the verdict line; no progress.")
    var quiet = false

    @Option(name: .long, help: "Also write a self-contained offline HTML report to this file.", completion: .file())
    var html: String?

    @OptionGroup var colorOptions: ColorOptions

    @Option(name: .long, help: "Worker threads (default: one per core).")
    var workers: Int?

    @Option(name: .long, help: "Scan findings at or above this severity fail verification: note, warning, error (the default), or none, so the scan does not count; overrides the policy's scan-fail-on.", completion: .list(ScanThreshold.allCases.map(\.rawValue)))
    var failOn: String?

    @Flag(name: .long, help: "Do not scan for hidden content (bidi controls, invisible characters, look-alike identifiers, hostile paths and attributes): weakens what is checked.")
    var skipScanUnsafe = false

    @Flag(name: .long, help: "Scan strictly: every bidi control and invisible character.")
    var strictScan = false

    @Option(name: .long, help: "A log inclusion proof for the manifest (from `glassbox log prove`).", completion: .file())
    var logProof: String?

    @Option(name: .long, help: "The transparency log's verifier key (.pub file or vkey text).", completion: .file())
    var logKey: String?

    @Option(name: .long, help: "A witness's cosignature key (type 0x04 vkey; repeatable, each key once).", completion: .file())
    var witness: [String] = []

    @Option(name: .long, help: "How many of the --witness keys must have cosigned: 1 to their number (default: all).")
    var witnessThreshold: Int?

    @Option(name: .long, help: "The last log checkpoint this reviewer saw; checked for consistency and updated.", completion: .file())
    var state: String?

    @Option(name: .long, help: "A consistency proof from the state's checkpoint to the proof's (from `glassbox log consistency`).", completion: .file())
    var logConsistency: String?

    /// Read before parsing, by `HelpTopic.answerHelpTopicOption`; declared here so that help,
    /// the manual page and shell completion show it.
    @Option(name: .long, help: "Print a reference topic offline and exit: \(HelpTopic.names).", completion: .list(HelpTopic.allCases.map(\.rawValue)))
    var helpTopic: String?

    public init() {}

    /// Every option is honoured in the mode given, or refused: none is silently ignored.
    public func validate() throws {
        if proof != nil {
            var refused: [String] = []
            if manifest != nil { refused.append("--manifest") }
            if repo != nil { refused.append("--repo") }
            if rev != nil { refused.append("--rev") }
            if dir != nil { refused.append("--dir") }
            if tarballOptions.tarball != nil { refused.append("--tarball") }
            if tarballOptions.stripComponents != nil { refused.append("--strip-components") }
            if !artifacts.isEmpty { refused.append("--artifacts") }
            if !artifact.isEmpty { refused.append("--artifact") }
            if !ignoreUnlisted.isEmpty { refused.append("--ignore-unlisted") }
            if workers != nil { refused.append("--workers") }
            if failOn != nil { refused.append("--fail-on") }
            if skipScanUnsafe { refused.append("--skip-scan-unsafe") }
            if strictScan { refused.append("--strict-scan") }
            if logProof != nil { refused.append("--log-proof") }
            if logKey != nil { refused.append("--log-key") }
            if !witness.isEmpty { refused.append("--witness") }
            if witnessThreshold != nil { refused.append("--witness-threshold") }
            if state != nil { refused.append("--state") }
            if logConsistency != nil { refused.append("--log-consistency") }
            if !rebuildAttestation.isEmpty { refused.append("--rebuild-attestation") }
            guard refused.isEmpty else {
                throw ValidationError("--proof checks one file; it does not take \(refused.joined(separator: ", "))")
            }
            guard file != nil else { throw ValidationError("--proof P takes the file to check as an argument") }
            return
        }
        guard manifest != nil else { throw ValidationError("give --manifest M (or --proof P FILE)") }
        guard [repo, dir, tarballOptions.tarball].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --repo, --dir or --tarball")
        }
        if repo == nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if file != nil { throw ValidationError("a FILE argument goes with --proof") }
        if path != nil { throw ValidationError("--path goes with --proof") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if !artifact.isEmpty && !artifacts.isEmpty {
            throw ValidationError("give --artifacts for every listed artifact, or --artifact FILE for only some, not both")
        }
        if !ignoreUnlisted.isEmpty && artifacts.isEmpty {
            throw ValidationError("--ignore-unlisted goes with --artifacts (an --artifact file that is not listed always fails)")
        }
        for glob in ignoreUnlisted {
            do { _ = try UnlistedGlob(glob) } catch let error as FormatError { throw ValidationError(error.message) }
        }
        if let failOn, ScanThreshold(rawValue: failOn) == nil { throw ValidationError("--fail-on takes note, warning, error or none") }
        if skipScanUnsafe && (failOn != nil || strictScan) {
            throw ValidationError("--fail-on and --strict-scan set how the scan runs; they do nothing with --skip-scan-unsafe")
        }
        if (logProof == nil) != (logKey == nil) { throw ValidationError("--log-proof and --log-key go together") }
        if logProof == nil && (!witness.isEmpty || witnessThreshold != nil || state != nil || logConsistency != nil) {
            throw ValidationError("--witness, --witness-threshold, --state and --log-consistency need --log-proof")
        }
        if Set(witness).count != witness.count { throw ValidationError("a --witness key is given twice; each witness counts once") }
        if let witnessThreshold {
            guard !witness.isEmpty else { throw ValidationError("--witness-threshold needs --witness keys") }
            guard (1...witness.count).contains(witnessThreshold) else {
                throw ValidationError("--witness-threshold must be between 1 and the \(witness.count) --witness keys given")
            }
        }
        if logConsistency != nil && state == nil { throw ValidationError("--log-consistency needs --state") }
    }

    public func run() throws {
        try runReporting {
            let policy = try loadPolicy(trust)
            let outcome = try proof != nil ? verifyFile(policy) : verifyTree(policy)
            let report = VerificationReport(outcome)
            if let html {
                try writeOutput(Array(report.html(manifest: manifest, proof: proof, trust: trust).utf8), to: html)
            }
            if json {
                try writeOutput(renderJSON(report), to: nil)
            } else {
                sayReport(quiet ? report.verdictLine + "\n" : report.text, passed: report.verified, colorOptions.painter)
            }
            return outcome.verified ? Exit.verified : Exit.failed
        }
    }

    private func verifyTree(_ policy: TrustPolicy) throws -> VerificationOutcome {
        // The reviewer's state is shared by every verification that names it: it is read,
        // checked against and moved forward under one lock.
        guard let state else { return try verifyTreeHoldingState(policy) }
        return try FileLock.holding(try OutputFile.resolve(state) + ".lock") { try verifyTreeHoldingState(policy) }
    }

    private func verifyTreeHoldingState(_ policy: TrustPolicy) throws -> VerificationOutcome {
        if let dir { try checkDirectoryArgument(dir) }
        for file in artifact {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                throw UserError("\(file): --artifact names one file, and this is a directory",
                                hint: "to check every listed artifact in a directory, give --artifacts \(file)")
            }
        }
        var options = ScanOptions()
        options.strict = strictScan
        let progress = quiet ? nil : tarballOptions.tarball != nil ? Progress.byteHandler() : Progress.handler()
        defer { if progress != nil { Progress.finish() } }
        let request = VerificationRequest(
            policy: policy, day: todayUTC(),
            tree: repo.map { .git(repository: $0, revision: rev) }
                ?? tarballOptions.location ?? .directory(dir!),
            artifacts: !artifact.isEmpty ? artifact : artifacts.isEmpty ? nil : artifacts,
            artifactScope: ArtifactScope(selection: !artifact.isEmpty, ignoreUnlisted: try ignoreUnlisted.map(UnlistedGlob.init)),
            scan: skipScanUnsafe ? nil : options,
            scanFailOn: failOn.flatMap(ScanThreshold.init) ?? policy.scanFailOn ?? .standard,
            scanFailOnSource: failOn != nil ? .option : policy.scanFailOn != nil ? .policy : .standard,
            scanExceptions: skipScanUnsafe ? nil : try loadPolicyExceptions(policy),
            log: try logProof.map { try loadLogCheck($0, logKey!) },
            rebuildAttestations: try rebuildAttestation.map(loadAttestation),
            workers: workers ?? defaultWorkerCount, progress: progress)
        let outcome: VerificationOutcome
        do { outcome = try ReleaseVerifier.verify(manifest: .file(manifest!), request) } catch let error as FormatError {
            throw UserError("\(manifest!)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                            hint: "a manifest is described in `glassbox help format` (byte by byte in Manifests/FORMAT.md)")
        }
        if let state, let checkpoint = outcome.logState { try writeOutput(checkpoint.text, to: state) }
        return outcome
    }

    private func verifyFile(_ policy: TrustPolicy) throws -> VerificationOutcome {
        let proofPath = proof!
        let parsed: FileProof
        do { parsed = try FileProof(parsing: try readFile(proofPath, limit: FileProof.maxSize)) } catch let error as FormatError {
            throw UserError("\(proofPath)\(error.line.map { ":\($0)" } ?? ""): \(error.message)")
        }
        var claimed: [UInt8]?
        if let path {
            guard let raw = Escaping.unescape(Array(path.utf8)) else {
                throw UserError("--path '\(path)' is not a path in the manifest's escaped form")
            }
            claimed = raw
        }
        return try ReleaseVerifier.verify(proof: parsed, file: file!, claimedPath: claimed, policy: policy, day: todayUTC())
    }
}

extension VerifyReleaseCommand {
    /// The exceptions file the policy names, read relative to the policy file's directory.
    func loadPolicyExceptions(_ policy: TrustPolicy) throws -> ScanExceptions? {
        guard let named = policy.scanExceptions else { return nil }
        let path = named.hasPrefix("/") ? named
            : URL(fileURLWithPath: trust).deletingLastPathComponent().appendingPathComponent(named).path
        return try loadScanExceptions(path)
    }

    /// Reads a rebuild attestation. One that cannot be read, is not a signed note, or whose
    /// text is not a `glassbox-rebuild v1` attestation is bad input (exit 2), as a malformed
    /// manifest is: what its signatures and statements come to is for the verdict.
    func loadAttestation(_ path: String) throws -> AttestationInput {
        do { return try AttestationInput(parsing: try readFile(path, limit: AttestationInput.maxSize), source: path) } catch let error as FormatError {
            throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                            hint: "a rebuild attestation is described in `glassbox help format` (line by line in Manifests/FORMAT.md)")
        } catch let error as NoteError {
            throw UserError("\(path): not a signed note: \(error)", hint: "a rebuild attestation is a C2SP signed note (`glassbox attest-rebuild` writes one)")
        }
    }

    func loadLogCheck(_ proofPath: String, _ keyArgument: String) throws -> LogCheck {
        let proof: FileProof
        do { proof = try FileProof(parsing: try readFile(proofPath, limit: FileProof.maxSize)) } catch let error as FormatError {
            throw UserError("\(proofPath)\(error.line.map { ":\($0)" } ?? ""): \(error.message)")
        }
        func text(_ argument: String) throws -> String {
            FileManager.default.fileExists(atPath: argument) ? String(decoding: try readFile(argument, limit: 64 << 10), as: UTF8.self) : argument
        }
        let logKey = try parseVKey(try text(keyArgument), keyArgument)
        let witnesses = try witness.map { argument in
            do { return try CosignatureKey(parsing: try text(argument).trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
                throw UserError("\(argument): \(error)")
            }
        }
        var lastSeen: Checkpoint?
        if let state, FileManager.default.fileExists(atPath: state) {
            do { lastSeen = try Checkpoint(parsing: try readFile(state, limit: 1 << 20)) } catch { throw UserError("\(state): \(error)") }
        }
        let consistency = try logConsistency.map { path in
            do { return try ConsistencyProof(parsing: try readFile(path, limit: 1 << 20)) } catch { throw UserError("\(path): \(error)") }
        }
        do {
            return try LogCheck(proof: proof, logKey: logKey, witnesses: witnesses, witnessThreshold: witnessThreshold,
                                lastSeen: lastSeen, consistency: consistency)
        } catch let error as LogCheckError {
            throw UserError(error.description, hint: "give each witness key once, and a --witness-threshold from 1 to their number")
        }
    }
}

/// What verify-release prints: verdict first, then what was checked, then every finding by
/// group. Every string from input is made safe for a terminal (`Display.field`) as it enters.
struct VerificationReport: Encodable {
    static let mediaType = "application/vnd.glassbox.verification.v1+json"

    struct Checked: Encodable {
        var source: String?
        var entriesListed: UInt64
        var entriesFound: Int
        var artifactsListed: Int
        var artifactsChecked: Int
        /// With `--artifact`: true, and the listed artifacts not checked (absent otherwise).
        var artifactSelection: Bool?
        var artifactsNotChecked: [String]?
        /// With `--ignore-unlisted`: each glob and the unlisted files it covered.
        var ignoredUnlisted: [Ignored]?
        var provenPath: String?
    }

    struct Ignored: Encodable {
        var glob: String
        var files: [String]
    }

    struct Item: Encodable {
        var severity: String
        var category: String
        var code: String
        var subject: String?
        var message: String
    }

    var mediaType = VerificationReport.mediaType
    /// The version of the tools that wrote it, as `--version` prints it.
    var toolVersion = GlassboxVersion.string
    var verified: Bool
    var origin: String?
    var name: String?
    var version: String?
    var commit: String?
    var signers: [String]
    var threshold: Int?
    var checked: Checked
    /// Whether the hidden-content scan ran, the threshold at which its findings fail (`none`:
    /// they do not count) and where that came from (default, policy, --fail-on).
    var scanRan: Bool
    var scanFailOn: String?
    var scanFailOnSource: String?
    /// Scan findings no exception covers, by severity; the exceptions file and what it covered.
    var scanCounts: [String: Int]
    var scanExceptions: String?
    var scanExcepted: Int
    /// The transparency-log check, when one was asked for.
    var log: String?
    /// Rebuild attestations: the trusted rebuilders that counted, how many the policy
    /// requires, and how many attestations were given; nil when none were given or required.
    var rebuilders: [String]?
    var rebuildThreshold: Int?
    var rebuildAttestations: Int?
    var findings: [Item]

    init(_ outcome: VerificationOutcome) {
        verified = outcome.verified
        let header = outcome.header
        origin = header.map { Display.field($0.origin) }
        name = header.map { Display.field($0.name) }
        version = header.map { Display.field($0.version) }
        if case let .git(commit, _, _, _) = header?.source { self.commit = commit }
        signers = outcome.signatures?.counted.map { Display.field($0.description) } ?? []
        threshold = outcome.signatures?.threshold
        let c = outcome.checked
        checked = Checked(source: c.source.map(Display.field), entriesListed: c.entriesListed, entriesFound: c.entriesFound,
                          artifactsListed: c.artifactsListed, artifactsChecked: c.artifactsChecked,
                          artifactSelection: c.artifactSelection ? true : nil,
                          artifactsNotChecked: c.artifactSelection ? c.artifactsNotChecked.map(Display.field) : nil,
                          ignoredUnlisted: c.artifactsIgnored.isEmpty ? nil
                              : c.artifactsIgnored.map { Ignored(glob: Display.field($0.glob), files: $0.files.map(Display.field)) },
                          provenPath: c.provenPath.map(Display.field))
        scanRan = c.scanRan
        scanFailOn = c.scanFailOn?.rawValue
        scanFailOnSource = c.scanFailOnSource?.rawValue
        scanCounts = Dictionary(uniqueKeysWithValues: c.scanCounts.map { ($0.key.rawValue, $0.value) })
        scanExceptions = c.scanExceptionsSource.map(Display.field)
        scanExcepted = c.scanExcepted
        log = c.log.map(Display.field)
        if let rebuild = c.rebuild {
            rebuilders = rebuild.counted.map { Display.field($0.description) }
            rebuildThreshold = rebuild.threshold
            rebuildAttestations = c.rebuildAttestationsGiven
        }
        findings = outcome.findings.map {
            Item(severity: $0.severity.rawValue, category: $0.category.rawValue, code: $0.name,
                 subject: $0.subject.map(Display.field), message: Display.field($0.message))
        }
    }

    private var failures: Int { findings.filter { $0.severity == "failure" }.count }

    /// How many unlisted artifact files an `--ignore-unlisted` glob covered.
    private var ignoredCount: Int { checked.ignoredUnlisted?.reduce(0) { $0 + $1.files.count } ?? 0 }

    var verdictLine: String {
        let release = "\(name ?? "?") \(version ?? "?") (\(origin ?? "?"))"
        let file = checked.provenPath.map { " file \($0)" } ?? ""
        return verified ? "verify-release: VERIFIED\(qualification)\(release)\(file)"
            : "verify-release: FAILED \(release)\(file): \(counting(failures, "problem"))"
    }

    /// What a VERIFIED line must say besides: listed artifacts not checked (`--artifact`),
    /// unlisted artifact files ignored, findings the scan made that did not count, because the
    /// threshold is `none` or an exception covered them. The line never reads a bare VERIFIED
    /// while errors are listed below it or only some of the artifacts were checked.
    private var qualification: String {
        var parts: [String] = []
        if let notChecked = checked.artifactsNotChecked, !notChecked.isEmpty {
            let compared = checked.artifactsListed - notChecked.count
            parts.append("only \(compared) of \(counting(checked.artifactsListed, "listed artifact")) checked")
        }
        if ignoredCount > 0 { parts.append("\(counting(ignoredCount, "unlisted artifact file")) ignored") }
        if scanRan && scanFailOn == ScanThreshold.none.rawValue {
            let found = ScanFinding.Severity.allCases.reversed().compactMap { severity in
                scanCounts[severity.rawValue].map { counting($0, severity.rawValue) }
            }
            if !found.isEmpty { parts.append("scan not counted: " + found.joined(separator: ", ")) }
        }
        if scanExcepted > 0 { parts.append("\(counting(scanExcepted, "scan finding")) excepted") }
        return parts.isEmpty ? " " : " (\(parts.joined(separator: "; "))) "
    }

    var text: String {
        var lines = [verdictLine, ""]
        lines.append("release    \(name ?? "?") \(version ?? "?")")
        lines.append("origin     \(origin ?? "?")")
        if let commit { lines.append("commit     \(commit)") }
        let names = signers.map { String($0.split(separator: "+").first ?? "") }
        lines.append("signers    \(signers.count) of \(threshold ?? 0) required\(names.isEmpty ? "" : ": " + names.joined(separator: ", "))")
        if let provenPath = checked.provenPath { lines.append("proves     \(provenPath)") }
        if let source = checked.source {
            lines.append("checked    \(source): \(counting(checked.entriesListed, "entry", "entries")) listed, \(checked.entriesFound) found")
        } else {
            lines.append("checked    nothing beyond the manifest: it is not trusted, so no tree was read")
        }
        if let log { lines.append("log        \(log)") }
        if let rebuilders, let rebuildThreshold, let rebuildAttestations {
            let names = rebuilders.map { String($0.split(separator: "+").first ?? "") }
            lines.append("rebuilds   \(rebuilders.count) of \(rebuildThreshold) required trusted rebuilders attest every artifact reproduced"
                         + (names.isEmpty ? "" : ": " + names.joined(separator: ", "))
                         + " (\(counting(rebuildAttestations, "attestation")) given)")
        }
        let scanned = findings.filter { $0.category == "scan" && $0.code != Finding.Code.scanSkipped.rawValue }
        if scanRan {
            let failing = scanned.filter { $0.severity == "failure" }.count
            let counted = scanCounts.values.reduce(0, +)
            let threshold = scanFailOn == nil || scanFailOn == ScanThreshold.none.rawValue ? "the scan does not count"
                : "findings at \(scanFailOn!) or above fail"
            lines.append("scan       \(counting(counted, "finding"))\(failing > 0 ? ", \(failing) failing" : "") "
                         + "(\(threshold): \(scanFailOnSource ?? ScanThresholdSource.standard.rawValue))")
            if let scanExceptions {
                let unused = scanned.filter { $0.code == Finding.Code.scanExceptionUnused.rawValue }.count
                lines.append("exceptions \(counting(scanExcepted, "finding")) excepted by \(scanExceptions), "
                             + "\(counting(unused, "exception")) unused")
            }
        }
        if checked.artifactsListed > 0 || checked.artifactsChecked > 0 {
            lines.append("artifacts  " + artifactsSummary)
        }
        for ignored in checked.ignoredUnlisted ?? [] {
            lines.append("ignored    --ignore-unlisted '\(ignored.glob)': "
                         + (ignored.files.isEmpty ? "matched no file" : ignored.files.joined(separator: ", ")))
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

    /// The artifacts line: how many are listed and given, and with `--artifact` how many
    /// listed ones were NOT checked, by name.
    var artifactsSummary: String {
        var line = "\(checked.artifactsListed) listed, \(counting(checked.artifactsChecked, "file")) given"
        if let notChecked = checked.artifactsNotChecked {
            line += " (--artifact); " + (notChecked.isEmpty ? "every listed artifact checked"
                : "\(notChecked.count) NOT checked: \(notChecked.joined(separator: ", "))")
        }
        return line
    }
}

import ArgumentParser
import Foundation
import GlassboxScan
import Glassbox
import GlassboxReview
import GlassboxGit

/// `glassbox scan`: where the code hides things a reader would miss.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Find bidi controls, invisible characters, confusable identifiers, byte-changing git attributes, escaping symlinks, colliding paths, opaque blobs and missing submodules.",
        discussion: """
            Exit 0 when nothing at or above --fail-on (default: error) was found, 1 otherwise, 2 on bad input.
            With --baseline, only findings not in that earlier result count; with --exceptions, findings a
            reviewed exception accepts (one each) are listed apart with its reason and do not count.
            """)

    @Option(name: .long, help: "A git repository, read from its objects.", completion: .directory)
    var repo: String?

    @Option(name: .long, help: "The revision to scan (default HEAD).")
    var rev: String?

    @Option(name: .long, help: "A directory to scan.", completion: .directory)
    var dir: String?

    @OptionGroup var tarballOptions: TarballOptions

    @Flag(name: .long, help: "Report every bidi control and invisible character, not only unterminated ones or those in code.")
    var strict = false

    @Flag(name: .long, help: "Print JSON (media type \(ScanReport.mediaType)).")
    var json = false

    @Flag(name: .long, help: "Print SARIF 2.1.0, for code-scanning tools.")
    var sarif = false

    @Option(name: .long, help: "The lowest severity that makes the exit status 1: note, warning, error, or none.", completion: .list(ScanThreshold.allCases.map(\.rawValue)))
    var failOn: String = "error"

    @Option(name: .long, help: "An earlier `glassbox scan --json` or `--sarif` result: report only findings not in it.", completion: .file())
    var baseline: String?

    @Option(name: .long, help: "Reviewed exceptions (format: `glassbox help policy`): findings they cover are listed apart and do not count.", completion: .file())
    var exceptions: String?

    @Option(name: .long, help: "Worker threads (default: one per core).")
    var workers: Int?

    @OptionGroup var colorOptions: ColorOptions

    func validate() throws {
        guard [repo, dir, tarballOptions.tarball].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --repo, --dir or --tarball")
        }
        if repo == nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if json && sarif { throw ValidationError("choose --json or --sarif") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if ScanThreshold(rawValue: failOn) == nil { throw ValidationError("--fail-on takes note, warning, error or none") }
    }

    func run() throws {
        try runReporting {
            var options = ScanOptions()
            options.strict = strict
            let exceptionList = try exceptions.map(loadScanExceptions)
            let known = try baseline.map(loadBaseline)
            var findings: [ScanFinding]
            var provenance: SARIF.VersionControl?
            if let repo {
                // The commit is resolved once and that commit is what is scanned, so the SARIF
                // names exactly what its results are about.
                // A git tree's bytes are the stored objects a checkout converts, with the
                // repository's own filter drivers.
                let collector = ScanCollector(options: options, attributeSource: .gitObjects,
                                              filterDrivers: try GitReader.filterDrivers(repositoryPath: repo))
                let read = try GitReader.visit(repositoryPath: repo, revision: rev ?? "HEAD",
                                               workers: workers ?? defaultWorkerCount, inspect: collector.inspector)
                findings = collector.findings(entries: read.entries)
                provenance = SARIF.VersionControl(repositoryUri: fileURI(repo), revisionId: read.revision.commit)
            } else {
                if let dir { try checkDirectoryArgument(dir) }
                findings = try scanSource(tarballOptions.location ?? .directory(dir!), options: options,
                                          workers: workers ?? defaultWorkerCount)
            }
            let split = exceptionList?.apply(to: findings)
            findings = split?.kept ?? findings
            var report = ScanReport(findings: known.map { $0.newFindings(findings).new } ?? findings)
            if let known, let baseline {
                let matched = known.newFindings(findings).known
                report.baseline = .init(file: baseline, known: matched, gone: known.total - matched)
            }
            if let split, let exceptionList {
                report.exceptions = exceptionList.source
                report.excepted = split.excepted.map { .init(finding: .init($0.finding), line: $0.exception.line, reason: $0.exception.reason) }
                report.unusedExceptions = split.unused.map { .init(line: $0.line, path: $0.path, rule: $0.rule, fingerprint: $0.fingerprint, reason: $0.reason) }
            }
            if json {
                try writeOutput(renderJSON(report), to: nil)
            } else if sarif {
                try writeOutput(renderJSON(report.sarif(provenance: provenance)), to: nil)
            }
            let threshold = ScanThreshold(rawValue: failOn)!
            let failed = report.findings.contains { threshold.fails(ScanFinding.Severity(rawValue: $0.severity)!) }
            if !json && !sarif { sayReport(report.text, passed: !failed, colorOptions.painter, severityHeadings: true) }
            return failed ? Exit.failed : Exit.verified
        }
    }

    private func loadBaseline(_ path: String) throws -> ScanBaseline {
        do { return try ScanBaseline(parsing: try readFile(path, limit: ScanBaseline.maxSize)) } catch let error as TriageError {
            throw UserError("\(path): \(error.message)", hint: "a baseline is what `glassbox scan --json` or `--sarif` printed")
        }
    }
}

/// What `scan` prints: text grouped by severity, JSON, or SARIF.
struct ScanReport: Encodable {
    static let mediaType = "application/vnd.glassbox.scan.v1+json"

    var mediaType = ScanReport.mediaType
    /// The version of the tools that wrote it, as `--version` prints it.
    var toolVersion = GlassboxVersion.string
    var counts: [String: Int]
    var findings: [Item]

    struct Item: Encodable {
        var rule: String
        var severity: String
        var path: String
        var line: Int?
        var column: Int?
        var codePoints: [String]
        var message: String
        /// SHA-256 of the line the finding is on (see `ScanFinding.lineDigest`); left out for
        /// findings about no one line of text.
        var lineDigest: String?
        /// The finding's stable name (see `ScanFinding.fingerprint`): what baselines and
        /// exceptions match.
        var fingerprint: String
        /// The paths a finding about a line stands for; left out when there are none.
        var paths: [String]?

        init(_ f: ScanFinding) {
            rule = f.rule
            severity = f.severity.rawValue
            path = f.path
            line = f.line
            column = f.column
            codePoints = f.codePoints
            message = f.message
            lineDigest = f.lineDigest
            fingerprint = f.fingerprint
            paths = f.paths.isEmpty ? nil : f.paths
        }
    }

    /// What an earlier result (`--baseline`) accounted for.
    struct Baseline: Encodable {
        var file: String
        /// Findings found again, and not shown; findings in the baseline no longer found.
        var known: Int
        var gone: Int
    }

    /// A finding a reviewed exception covers, with the exception's line and reason.
    struct Excepted: Encodable {
        var finding: Item
        var line: Int
        var reason: String
    }

    struct UnusedException: Encodable {
        var line: Int
        var path: String
        var rule: String
        var fingerprint: String
        var reason: String
    }

    var baseline: Baseline?
    var exceptions: String?
    var excepted: [Excepted]?
    var unusedExceptions: [UnusedException]?

    init(findings: [ScanFinding]) {
        counts = Dictionary(uniqueKeysWithValues: ScanFinding.Severity.allCases.map { severity in
            (severity.rawValue, findings.filter { $0.severity == severity }.count)
        })
        self.findings = findings.map(Item.init)
    }

    var text: String {
        func describe(_ f: Item) -> String {
            let place = f.line.map { ":\($0)" + (f.column.map { ":\($0)" } ?? "") } ?? ""
            let points = f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]"
            return "\(f.path)\(place): \(f.rule): \(f.message)\(points)"
        }
        var lines = ["glassbox: scan: \(counting(counts["error"]!, "error")), \(counting(counts["warning"]!, "warning")), \(counting(counts["note"]!, "note"))"
                     + (baseline == nil ? "" : " not in the baseline")]
        if let baseline {
            lines.append("baseline \(baseline.file): \(counting(baseline.known, "finding")) already there, not shown; "
                         + "\(baseline.gone) no longer found")
        }
        for severity in ScanFinding.Severity.allCases.reversed() {
            let group = findings.filter { $0.severity == severity.rawValue }
            if group.isEmpty { continue }
            lines.append("\(severity.rawValue) (\(group.count)):")
            for f in group { lines.append("  " + describe(f)) }
        }
        // Exceptions hide nothing unseen: every finding one covers is listed with its reason,
        // and every exception that covered nothing is named.
        if let exceptions, let excepted, let unusedExceptions {
            lines.append("excepted (\(excepted.count)) by \(exceptions):")
            for e in excepted { lines.append("  \(describe(e.finding)) — line \(e.line): \(e.reason)") }
            if !unusedExceptions.isEmpty {
                lines.append("note: \(counting(unusedExceptions.count, "exception")) in \(exceptions) matched no finding:")
                for u in unusedExceptions { lines.append("  line \(u.line): \(u.rule) \(u.path) \(u.fingerprint)") }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// SARIF 2.1.0: one run, the rules with their default levels, help and security severity,
    /// one result per finding (excepted ones marked suppressed, with the reason).
    func sarif(provenance: SARIF.VersionControl?) -> SARIF {
        let rules = ScanRules.all.map {
            SARIF.Rule(id: $0.id, shortDescription: .init(text: $0.description), help: .init(text: SARIF.help[$0.id] ?? $0.description),
                       defaultConfiguration: .init(level: $0.severity.rawValue),
                       properties: .init(securitySeverity: SARIF.securitySeverity($0.severity)))
        }
        var occurrences: [String: Int] = [:]
        func result(_ f: Item, suppression: String?) -> SARIF.Result {
            // Two findings with one fingerprint in a file stay two results: the occurrence
            // number tells them apart, as code-scanning tools expect of partial fingerprints.
            occurrences[f.fingerprint, default: 0] += 1
            return SARIF.Result(
                ruleId: f.rule, ruleIndex: ScanRules.all.firstIndex { $0.id == f.rule }!, level: f.severity,
                message: .init(text: f.message + (f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]")),
                locations: [.init(physicalLocation: .init(
                    artifactLocation: .init(uri: sarifURI(f.path)),
                    region: f.line.map { SARIF.Region(startLine: $0, startColumn: f.column) }))],
                partialFingerprints: [ScanBaseline.sarifKey: "\(f.fingerprint):\(occurrences[f.fingerprint]!)"],
                suppressions: suppression.map { [SARIF.Suppression(justification: $0)] },
                baselineState: baseline == nil || suppression != nil ? nil : "new",
                properties: f.paths.map { SARIF.ResultProperties(paths: $0) })
        }
        var results = findings.map { result($0, suppression: nil) }
        for e in excepted ?? [] { results.append(result(e.finding, suppression: "\(exceptions ?? ""):\(e.line): \(e.reason)")) }
        return SARIF(runs: [.init(tool: .init(driver: .init(rules: rules)),
                                  versionControlProvenance: provenance.map { [$0] }, results: results)])
    }
}

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
        discussion: "Exit 0 when nothing at or above --fail-on (default: error) was found, 1 otherwise, 2 on bad input.")

    @Option(name: .long, help: "A git repository, read from its objects.")
    var repo: String?

    @Option(name: .long, help: "The revision to scan (default HEAD).")
    var rev: String?

    @Option(name: .long, help: "A directory to scan.")
    var dir: String?

    @OptionGroup var tarballOptions: TarballOptions

    @Flag(name: .long, help: "Report every bidi control and invisible character, not only unterminated ones or those in code.")
    var strict = false

    @Flag(name: .long, help: "Print JSON (media type \(ScanReport.mediaType)).")
    var json = false

    @Flag(name: .long, help: "Print SARIF 2.1.0, for code-scanning tools.")
    var sarif = false

    @Option(name: .long, help: "The lowest severity that makes the exit status 1: note, warning or error.")
    var failOn: String = "error"

    @Option(name: .long, help: "Worker threads (default: one per core).")
    var workers: Int?

    func validate() throws {
        guard [repo, dir, tarballOptions.tarball].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --repo, --dir or --tarball")
        }
        if repo == nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if json && sarif { throw ValidationError("choose --json or --sarif") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if ScanFinding.Severity(rawValue: failOn) == nil { throw ValidationError("--fail-on takes note, warning or error") }
    }

    func run() throws {
        try runReporting {
            var options = ScanOptions()
            options.strict = strict
            let tree: TreeLocation = repo.map { .git(repository: $0, revision: rev) }
                ?? tarballOptions.location ?? .directory(dir!)
            let findings = try scanSource(tree, options: options, workers: workers ?? defaultWorkerCount)
            let report = ScanReport(findings: findings)
            if json {
                try writeOutput(renderJSON(report), to: nil)
            } else if sarif {
                try writeOutput(renderJSON(report.sarif()), to: nil)
            } else {
                say(report.text)
            }
            let threshold = ScanFinding.Severity(rawValue: failOn)!
            return findings.contains { $0.severity >= threshold } ? Exit.failed : Exit.verified
        }
    }
}

/// What `scan` prints: text grouped by severity, JSON, or SARIF.
struct ScanReport: Encodable {
    static let mediaType = "application/vnd.glassbox.scan.v1+json"

    var mediaType = ScanReport.mediaType
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
        /// The paths a finding about a line stands for; left out when there are none.
        var paths: [String]?
    }

    init(findings: [ScanFinding]) {
        counts = Dictionary(uniqueKeysWithValues: ScanFinding.Severity.allCases.map { severity in
            (severity.rawValue, findings.filter { $0.severity == severity }.count)
        })
        self.findings = findings.map {
            Item(rule: $0.rule, severity: $0.severity.rawValue, path: $0.path, line: $0.line, column: $0.column,
                 codePoints: $0.codePoints, message: $0.message, paths: $0.paths.isEmpty ? nil : $0.paths)
        }
    }

    var text: String {
        var lines = ["glassbox: scan: \(counts["error"]!) errors, \(counts["warning"]!) warnings, \(counts["note"]!) notes"]
        for severity in ScanFinding.Severity.allCases.reversed() {
            let group = findings.filter { $0.severity == severity.rawValue }
            if group.isEmpty { continue }
            lines.append("\(severity.rawValue) (\(group.count)):")
            for f in group {
                let place = f.line.map { ":\($0)" + (f.column.map { ":\($0)" } ?? "") } ?? ""
                let points = f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]"
                lines.append("  \(f.path)\(place): \(f.rule): \(f.message)\(points)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// SARIF 2.1.0: one run, the rules with their default levels, one result per finding.
    func sarif() -> SARIF {
        let rules = ScanRules.all.map {
            SARIF.Rule(id: $0.id, shortDescription: .init(text: $0.description),
                       defaultConfiguration: .init(level: $0.severity.rawValue))
        }
        let results = findings.map { f in
            SARIF.Result(ruleId: f.rule, ruleIndex: ScanRules.all.firstIndex { $0.id == f.rule }!, level: f.severity,
                         message: .init(text: f.message + (f.codePoints.isEmpty ? "" : " [\(f.codePoints.joined(separator: ", "))]")),
                         locations: [.init(physicalLocation: .init(
                            artifactLocation: .init(uri: sarifURI(f.path)),
                            region: f.line.map { SARIF.Region(startLine: $0, startColumn: f.column) }))],
                         properties: f.paths.map { SARIF.Properties(paths: $0) })
        }
        return SARIF(runs: [.init(tool: .init(driver: .init(rules: rules)), results: results)])
    }
}

/// A relative URI reference for a path: every byte outside the unreserved set percent-encoded.
private func sarifURI(_ escapedPath: String) -> String {
    let raw = Escaping.unescape(Array(escapedPath.utf8)) ?? Array(escapedPath.utf8)
    var out = ""
    for byte in raw {
        if (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || [0x2D, 0x2E, 0x5F, 0x7E, 0x2F].contains(byte) {
            out.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            out += String(format: "%%%02X", byte)
        }
    }
    return out
}

/// The parts of SARIF 2.1.0 that scan results use.
struct SARIF: Encodable {
    var version = "2.1.0"
    var schema = "https://json.schemastore.org/sarif-2.1.0.json"
    var runs: [Run]

    enum CodingKeys: String, CodingKey { case version, schema = "$schema", runs }

    struct Run: Encodable {
        var tool: Tool
        var results: [Result]
    }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name = "glassbox"
        var rules: [Rule]
    }
    struct Text: Encodable { var text: String }
    struct Level: Encodable { var level: String }
    struct Rule: Encodable {
        var id: String
        var shortDescription: Text
        var defaultConfiguration: Level
    }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Text
        var locations: [Location]
        /// SARIF's property bag: the paths a finding about a line stands for.
        var properties: Properties?
    }
    struct Properties: Encodable { var paths: [String] }
    struct Location: Encodable { var physicalLocation: PhysicalLocation }
    struct PhysicalLocation: Encodable {
        var artifactLocation: ArtifactLocation
        var region: Region?
    }
    struct ArtifactLocation: Encodable { var uri: String }
    struct Region: Encodable {
        var startLine: Int
        var startColumn: Int?
    }
}

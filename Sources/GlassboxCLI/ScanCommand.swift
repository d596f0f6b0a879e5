import ArgumentParser
import Foundation
import Glassbox
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
        if (repo == nil) == (dir == nil) { throw ValidationError("give exactly one of --repo or --dir") }
        if dir != nil && rev != nil { throw ValidationError("--rev goes with --repo, not --dir") }
        if json && sarif { throw ValidationError("choose --json or --sarif") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if ScanFinding.Severity(rawValue: failOn) == nil { throw ValidationError("--fail-on takes note, warning or error") }
    }

    func run() throws {
        try runReporting {
            var options = ScanOptions()
            options.strict = strict
            let findings = try scanSource(repo: repo, rev: rev ?? "HEAD", dir: dir, options: options,
                                          workers: workers ?? defaultWorkerCount)
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

/// Scans a git revision or a directory: every file's content in parallel, then the tree rules.
func scanSource(repo: String?, rev: String, dir: String?, options: ScanOptions, workers: Int) throws -> [ScanFinding] {
    let collector = ScanCollector(options: options)
    let inspect: ContentInspector = { collector.inspect($0) }
    let entries = try repo.map { try GitReader.visit(repositoryPath: $0, revision: rev, workers: workers, inspect: inspect).entries }
        ?? DirectoryReader.visit(root: dir!, workers: workers, inspect: inspect)
    return collector.findings(entries: entries)
}

/// Gathers what the scan needs from each path's content, from worker threads, so a scan can
/// ride along with any pass that reads the tree (verify-release hashes and scans in one pass).
/// Each file streams through its own scanner; what is kept per file is bounded, whatever its size.
final class ScanCollector: @unchecked Sendable {
    private let options: ScanOptions
    private let lock = NSLock()
    private var contentFindings: [ScanFinding] = []
    private var facts = TreeFacts()
    /// Bytes of attributes files promised to readers still streaming them, or kept.
    private var attributeBytes = 0

    init(options: ScanOptions) { self.options = options }

    /// Where one path's content goes: files stream through a scanner as they are read.
    func inspect(_ item: ContentVisit) -> (any ContentSink)? {
        switch item.kind {
        case .link:
            lock.withLock { facts.linkTargets[item.path] = item.linkTarget }
            return nil
        case .submodule:
            if !item.isPresent { lock.withLock { facts.missingSubmodules.append(item.path) } }
            return nil
        case .file, .exec:
            let name = item.path.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
            var keepAttributes = false
            if name == Array(".gitattributes".utf8) {
                keepAttributes = lock.withLock {
                    guard item.size <= UInt64(AttributeLimits.fileBytes),
                          attributeBytes + Int(item.size) <= AttributeLimits.totalBytes else {
                        facts.oversizedGitattributes.append(item.path)
                        return false
                    }
                    attributeBytes += Int(item.size)
                    return true
                }
            }
            return FileScan(item, self, keepAttributes: keepAttributes)
        }
    }

    fileprivate func finished(_ item: ContentVisit, _ found: [ScanFinding], attributes: [UInt8]?) {
        lock.withLock {
            contentFindings += found
            if let attributes { facts.gitattributes[item.path] = attributes }
        }
    }

    fileprivate func attributesTooLarge(_ item: ContentVisit) {
        lock.withLock { facts.oversizedGitattributes.append(item.path) }
    }

    fileprivate var scanOptions: ScanOptions { options }
}

/// One file on its way through the scan: every chunk goes to the content scanner (until it has
/// seen enough, for a binary file), and an attributes file is also kept, up to its bound.
private final class FileScan: ContentSink {
    private let item: ContentVisit
    private let collector: ScanCollector
    private let scanner: ContentScanner
    private var scanning = true
    private var attributes: [UInt8]?

    init(_ item: ContentVisit, _ collector: ScanCollector, keepAttributes: Bool) {
        self.item = item
        self.collector = collector
        scanner = ContentScanner(path: item.path, size: item.size, options: collector.scanOptions)
        if keepAttributes { attributes = [] }
    }

    func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if scanning { scanning = scanner.consume(chunk) }
        if attributes != nil {
            // The size was checked before reading; a file that grows past it is not kept.
            if attributes!.count + chunk.count > min(Int(item.size), AttributeLimits.fileBytes) {
                attributes = nil
                collector.attributesTooLarge(item)
            } else {
                attributes!.append(contentsOf: chunk)
            }
        }
        return scanning || attributes != nil
    }

    func finish() { collector.finished(item, scanner.finish(), attributes: attributes) }
}

extension ScanCollector {
    /// Every finding, content and tree rules together, in path order. `entries` is the tree
    /// the reader produced, sorted by path (the collector does not keep a second copy).
    func findings(entries: [TreeEntry]) -> [ScanFinding] {
        lock.withLock {
            facts.missingSubmodules.sort { $0.lexicographicallyPrecedes($1) }
            var all = contentFindings + scanTree(entries, facts: facts)
            all.sort { ($0.path, $0.line ?? 0, $0.column ?? 0, $0.rule, $0.message) < ($1.path, $1.line ?? 0, $1.column ?? 0, $1.rule, $1.message) }
            return all
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
    }

    init(findings: [ScanFinding]) {
        counts = Dictionary(uniqueKeysWithValues: ScanFinding.Severity.allCases.map { severity in
            (severity.rawValue, findings.filter { $0.severity == severity }.count)
        })
        self.findings = findings.map {
            Item(rule: $0.rule, severity: $0.severity.rawValue, path: $0.path, line: $0.line, column: $0.column,
                 codePoints: $0.codePoints, message: $0.message)
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
                            region: f.line.map { SARIF.Region(startLine: $0, startColumn: f.column) }))])
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
    }
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

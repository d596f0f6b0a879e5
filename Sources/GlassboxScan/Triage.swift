import Foundation
import GlassboxCrypto
import GlassboxGit

// Triage: which findings a reviewer has already seen (a baseline: an earlier scan's result)
// and which they have looked at and accepted (reviewed exceptions, each with a reason).
// Both match findings by a fingerprint that survives edits elsewhere in the file, and both
// count: an exception accepts one finding, a baseline as many of a fingerprint as it holds, so
// a second copy of an accepted line is new.

extension ScanFinding {
    /// A stable name for this finding: 32 lowercase hex digits, the first 16 bytes of
    /// SHA-256 over `glassbox-scan-fingerprint v2`, the rule, the escaped path, the code points,
    /// the message and the line digest (empty when there is none), each followed by a NUL byte
    /// (code points are joined by LF).
    ///
    /// Line and column are left out, so adding lines above a finding does not make it new; a
    /// line number a message quotes (`.gitattributes:3`) is written `:N` for the same reason.
    /// The path, rule, code points, the rest of the message and the text of the line are in
    /// it, so a finding that moves to another file, a symlink that points elsewhere, or another
    /// line with the same characters is a different finding.
    public var fingerprint: String { fingerprint(version: 2) }

    /// Version 1 left the line's text out: kept only to recognise an old baseline and say so.
    func fingerprint(version: Int) -> String {
        var input = Array("glassbox-scan-fingerprint v\(version)".utf8) + [0]
        var parts = [rule, path, codePoints.joined(separator: "\n"), ScanFinding.withoutLineNumbers(message)]
        if version >= 2 { parts.append(lineDigest ?? "") }
        for part in parts { input += Array(part.utf8) + [0] }
        return SHA256.hash(input).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// `text` with every run of ASCII digits that follows a colon written `N`.
    static func withoutLineNumbers(_ text: String) -> String {
        var out: [UInt8] = []
        var afterColon = false
        var inNumber = false
        for byte in text.utf8 {
            if (0x30...0x39).contains(byte) && (afterColon || inNumber) {
                if !inNumber { out.append(UInt8(ascii: "N")) }
                inNumber = true
                afterColon = false
                continue
            }
            inNumber = false
            afterColon = byte == UInt8(ascii: ":")
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A baseline or exceptions file that is not in its format: the line (1-based, when there is
/// one) and what was expected.
public struct TriageError: Error, Equatable, Sendable, CustomStringConvertible {
    public let line: Int?
    public let message: String
    public init(line: Int?, _ message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { (line.map { "line \($0): " } ?? "") + message }
}

/// Findings a reviewer has looked at and accepted: one exception a line, each with a reason,
/// each accepting one finding.
///
/// ```
/// glassbox-scan-exceptions v2
/// # comment
/// PATH RULE FINGERPRINT REASON…
/// ```
/// PATH is the escaped path the scan prints, with each space in it written `\x20`; RULE a
/// scan rule; FINGERPRINT the finding's 32 hex digits; REASON the rest of the line, not
/// empty. Fields are separated by one space. Two findings with one fingerprint (the same line
/// twice in a file) need the exception twice. See `Manifests/FORMAT.md`.
public struct ScanExceptions: Sendable, Equatable {
    public struct Exception: Sendable, Equatable {
        /// The line of the file it is on (1-based).
        public var line: Int
        /// The path in the scan's escaped form (spaces as they are).
        public var path: String
        public var rule: String
        public var fingerprint: String
        public var reason: String

        /// Whether this exception is for `finding` (it accepts one such finding).
        public func covers(_ finding: ScanFinding) -> Bool {
            finding.fingerprint == fingerprint && finding.rule == rule && finding.path == path
        }
    }

    public static let header = "glassbox-scan-exceptions v2"
    /// The first version, whose fingerprints left out the line's text: refused, with how to
    /// write the file again.
    static let headerV1 = "glassbox-scan-exceptions v1"
    /// The largest file read, and the most exceptions and bytes a line, so a hostile or
    /// mistaken file costs bounded memory and time (every finding is checked against each).
    public static let maxSize = 1 << 20
    public static let maxCount = 10_000
    public static let maxLineBytes = 4096

    /// The file's name as the reviewer gave it, for reports.
    public var source: String
    public var exceptions: [Exception]

    /// Parses an exceptions file.
    /// - Throws: `TriageError` naming the line: a missing header, a CR, a line that is not
    ///   `PATH RULE FINGERPRINT REASON`, an unknown rule, a path not in escaped form, a
    ///   fingerprint that is not 32 lowercase hex digits, a version 1 file, or a file past the
    ///   limits above.
    public init(parsing bytes: [UInt8], source: String) throws {
        self.source = source
        exceptions = []
        guard bytes.count <= ScanExceptions.maxSize else {
            throw TriageError(line: nil, "the file is \(bytes.count) bytes; at most \(ScanExceptions.maxSize) are read")
        }
        var sawHeader = false
        for (index, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if raw.count > ScanExceptions.maxLineBytes {
                throw TriageError(line: number, "the line is longer than \(ScanExceptions.maxLineBytes) bytes")
            }
            if raw.contains(0x0D) { throw TriageError(line: number, "the line contains a carriage return (CR); the file has LF line ends") }
            guard let line = String(validating: raw, as: UTF8.self) else { throw TriageError(line: number, "the line is not UTF-8") }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if !sawHeader {
                if line == ScanExceptions.headerV1 {
                    throw TriageError(line: number, "a version 1 exceptions file: its fingerprints leave out the text of the line, so one "
                                      + "exception accepted any line with the same characters; write '\(ScanExceptions.header)' "
                                      + "and each exception again from the fingerprints `glassbox scan --json` prints now")
                }
                guard line == ScanExceptions.header else { throw TriageError(line: number, "expected '\(ScanExceptions.header)' as the first line") }
                sawHeader = true
                continue
            }
            if raw.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
                throw TriageError(line: number, "the line contains a control character (a tab?); fields are separated by one space")
            }
            // A reason is shown in reports: it may not reorder or hide what is printed around it.
            if let hidden = line.unicodeScalars.first(where: ScanExceptions.isHidingScalar) {
                throw TriageError(line: number, "the line contains \(describeCodePoint(hidden.value)), which changes how text around it is shown")
            }
            let fields = raw.split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, !fields[0].isEmpty, !fields[1].isEmpty, !fields[2].isEmpty,
                  let reasonStart = fields[3].first, reasonStart != 0x20, fields[3].last != 0x20 else {
                throw TriageError(line: number, "expected 'PATH RULE FINGERPRINT REASON', one space apart, with a reason")
            }
            guard let path = ScanExceptions.path(fromField: fields[0]) else {
                throw TriageError(line: number, "the path is not the scan's escaped form with each space written \\x20")
            }
            let rule = String(decoding: fields[1], as: UTF8.self)
            guard ScanRules.all.contains(where: { $0.id == rule }) else {
                throw TriageError(line: number, "unknown scan rule '\(rule)'")
            }
            guard fields[2].count == 32, fields[2].allSatisfy({ hexDigitValue($0) != nil }) else {
                throw TriageError(line: number, "the fingerprint is not 32 lowercase hex digits")
            }
            let fingerprint = String(decoding: fields[2], as: UTF8.self)
            guard exceptions.count < ScanExceptions.maxCount else {
                throw TriageError(line: number, "more than \(ScanExceptions.maxCount) exceptions")
            }
            exceptions.append(Exception(line: number, path: path, rule: rule, fingerprint: fingerprint,
                                        reason: String(decoding: fields[3], as: UTF8.self)))
        }
        guard sawHeader else { throw TriageError(line: nil, "the file is empty; it starts with '\(ScanExceptions.header)'") }
    }

    /// C1 controls, bidi controls and marks, and zero-width characters: a path shows them
    /// escaped, and a reason may not hold them.
    static func isHidingScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x80...0x9F, 0x061C, 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0xFEFF: true
        default: false
        }
    }

    /// The escaped path an exception's PATH field names, or nil when the field is not exactly
    /// the field form of one: a space inside an escaped path is written `\x20` there, so the
    /// line splits on spaces; an escaped path's own `\x20` (a space at either end) stays.
    static func path(fromField field: ArraySlice<UInt8>) -> String? {
        var escaped: [UInt8] = []
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == UInt8(ascii: "\\"), i + 1 < field.endIndex {
                if field[i + 1] == UInt8(ascii: "\\") {
                    escaped += [0x5C, 0x5C]
                    i += 2
                    continue
                }
                if field[(i + 1)...].starts(with: Array("x20".utf8)) {
                    escaped.append(0x20)
                    i += 4
                    continue
                }
            }
            escaped.append(field[i])
            i += 1
        }
        // The ends: an escaped path writes a leading or trailing space as \x20 itself.
        let leading = escaped.first == 0x20
        if escaped.count > 1, escaped.last == 0x20 { escaped.replaceSubrange((escaped.count - 1)..., with: Array("\\x20".utf8)) }
        if leading { escaped.replaceSubrange(0..<1, with: Array("\\x20".utf8)) }
        guard let raw = Escaping.unescape(escaped), !raw.isEmpty else { return nil }
        let path = Escaping.escape(raw)
        // Canonical: the field is exactly what `field(for:)` writes for this path.
        guard Array(ScanExceptions.field(for: path).utf8).elementsEqual(field) else { return nil }
        return path
    }

    /// How an escaped path is written in an exceptions file: each space as `\x20`.
    public static func field(for escapedPath: String) -> String {
        escapedPath.replacingOccurrences(of: " ", with: "\\x20")
    }

    /// The exception line that would accept `finding`, with `reason`.
    public static func line(for finding: ScanFinding, reason: String) -> String {
        "\(field(for: finding.path)) \(finding.rule) \(finding.fingerprint) \(reason)"
    }

    /// What the exceptions do to `findings`: the ones still counted, each excepted one with the
    /// exception that covers it, and the exceptions that covered nothing. Nothing is dropped:
    /// every finding is in `kept` or `excepted`. Each exception accepts one finding, in the
    /// order of both: a second finding with the same fingerprint needs a second exception.
    public func apply(to findings: [ScanFinding]) -> ExceptionOutcome {
        var byFingerprint: [String: [Int]] = [:]
        for (index, exception) in exceptions.enumerated() { byFingerprint[exception.fingerprint, default: []].append(index) }
        var outcome = ExceptionOutcome()
        var used = Set<Int>()
        for finding in findings {
            if let index = byFingerprint[finding.fingerprint]?.first(where: { !used.contains($0) && exceptions[$0].covers(finding) }) {
                outcome.excepted.append((finding, exceptions[index]))
                used.insert(index)
            } else {
                outcome.kept.append(finding)
            }
        }
        outcome.unused = exceptions.indices.filter { !used.contains($0) }.map { exceptions[$0] }
        return outcome
    }
}

/// Findings split by reviewed exceptions.
public struct ExceptionOutcome: Sendable {
    public var kept: [ScanFinding] = []
    public var excepted: [(finding: ScanFinding, exception: ScanExceptions.Exception)] = []
    public var unused: [ScanExceptions.Exception] = []
    public init() {}
}

/// The findings of an earlier scan, by fingerprint: what `glassbox scan --json` or `--sarif`
/// printed. A finding is known when the baseline has as many findings of its fingerprint as
/// have been matched so far; the next one of the same fingerprint is new.
public struct ScanBaseline: Sendable {
    public static let maxFindings = 1 << 20
    /// The largest baseline file read: JSON parsing holds the whole document.
    public static let maxSize = 64 << 20
    /// How many findings of each fingerprint the baseline holds.
    public var counts: [String: Int] = [:]
    public var total: Int { counts.values.reduce(0, +) }

    /// Reads a scan result: glassbox's JSON (findings are fingerprinted again from their
    /// rule, path, code points, message and line digest) or SARIF (each result's
    /// `partialFingerprints["glassbox/v2"]`).
    /// - Throws: `TriageError` when the bytes are not one of the two, a finding lacks a field,
    ///   or the result was written before fingerprints named the line's text.
    public init(parsing bytes: [UInt8]) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw TriageError(line: nil, "not a JSON object; a baseline is the output of `glassbox scan --json` or `--sarif`")
        }
        func add(_ fingerprint: String) throws {
            guard total < ScanBaseline.maxFindings else { throw TriageError(line: nil, "more than \(ScanBaseline.maxFindings) findings") }
            counts[fingerprint, default: 0] += 1
        }
        if let runs = object["runs"] as? [[String: Any]] {
            for (r, run) in runs.enumerated() {
                guard let results = run["results"] as? [[String: Any]] else { throw TriageError(line: nil, "runs[\(r)] has no results") }
                for (i, result) in results.enumerated() {
                    let prints = result["partialFingerprints"] as? [String: Any]
                    if prints?[ScanBaseline.sarifKey] == nil && prints?["glassbox/v1"] != nil {
                        throw TriageError(line: nil, "runs[\(r)].results[\(i)] has only a \"glassbox/v1\" fingerprint, which leaves out "
                                          + "the text of the line; scan the old tree again with this version")
                    }
                    guard let value = prints?[ScanBaseline.sarifKey] as? String,
                          let fingerprint = value.split(separator: ":").first, fingerprint.utf8.count == 32 else {
                        throw TriageError(line: nil, "runs[\(r)].results[\(i)] has no partialFingerprints \"\(ScanBaseline.sarifKey)\"; "
                                          + "scan the old tree again with this version")
                    }
                    try add(String(fingerprint))
                }
            }
        } else if object["mediaType"] as? String == ScanBaseline.jsonMediaType, let findings = object["findings"] as? [[String: Any]] {
            for (i, item) in findings.enumerated() {
                guard let rule = item["rule"] as? String, let path = item["path"] as? String,
                      let points = item["codePoints"] as? [String], let message = item["message"] as? String,
                      let severity = (item["severity"] as? String).flatMap(ScanFinding.Severity.init) else {
                    throw TriageError(line: nil, "findings[\(i)] lacks rule, severity, path, codePoints or message")
                }
                var finding = ScanFinding(rule, severity, path: [], codePoints: points, message)
                finding.path = path
                finding.lineDigest = item["lineDigest"] as? String
                // A result written before the line's text was in fingerprints has findings on
                // lines without a digest: matched, they would accept any line.
                if let written = item["fingerprint"] as? String, written != finding.fingerprint {
                    if written == finding.fingerprint(version: 1) {
                        throw TriageError(line: nil, "findings[\(i)] has a version 1 fingerprint, which leaves out the text of the "
                                          + "line; scan the old tree again with this version")
                    }
                    throw TriageError(line: nil, "findings[\(i)]'s fingerprint \(written) is not the one its fields give")
                }
                try add(finding.fingerprint)
            }
        } else {
            throw TriageError(line: nil, "neither SARIF (runs) nor \(ScanBaseline.jsonMediaType) (findings)")
        }
    }

    /// The key under which SARIF output carries the fingerprint (`FINGERPRINT:OCCURRENCE`).
    public static let sarifKey = "glassbox/v2"
    /// `glassbox scan --json`'s media type.
    public static let jsonMediaType = "application/vnd.glassbox.scan.v1+json"

    /// The findings not in the baseline, in order, and how many baseline findings were seen again.
    public func newFindings(_ findings: [ScanFinding]) -> (new: [ScanFinding], known: Int) {
        var left = counts
        var new: [ScanFinding] = []
        var known = 0
        for finding in findings {
            let fingerprint = finding.fingerprint
            if let n = left[fingerprint], n > 0 {
                left[fingerprint] = n - 1
                known += 1
            } else {
                new.append(finding)
            }
        }
        return (new, known)
    }
}

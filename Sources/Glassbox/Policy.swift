import Foundation
import GlassboxScan

/// Which hidden-content scan findings fail a verification: those at or above a severity, or
/// none (the scan runs and is reported, but does not count toward the verdict).
public enum ScanThreshold: String, Sendable, CaseIterable {
    case note, warning, error, none

    /// Without a policy line or an option, scan errors fail: a release that hides a Trojan
    /// Source line is not one a reviewer should see reported as verified.
    public static let standard = ScanThreshold.error

    /// The lowest severity that fails; nil for `none`.
    public var severity: ScanFinding.Severity? { ScanFinding.Severity(rawValue: rawValue) }

    /// Whether a finding of `severity` fails under this threshold.
    public func fails(_ severity: ScanFinding.Severity) -> Bool { self.severity.map { severity >= $0 } ?? false }
}

/// Where the scan threshold in force came from, as reports name it.
public enum ScanThresholdSource: String, Sendable {
    case standard = "default"
    case policy = "policy"
    case option = "--fail-on"
}

/// Who a reviewer trusts to sign releases: plain text, one directive a line.
///
/// ```
/// glassbox-trust v1
/// threshold 2
/// key NAME+KEYID+KEY [origins=PATTERN,...] [not-before=YYYY-MM-DD] [not-after=YYYY-MM-DD]
/// scan-fail-on error            (optional: note, warning, error or none; default error)
/// scan-exceptions FILE          (optional: reviewed scan exceptions, relative to the policy)
/// rebuild-threshold 1           (optional: how many distinct rebuilders must attest; default 0)
/// rebuilder NAME+KEYID+KEY [origins=…] [not-before=…] [not-after=…]
/// ```
/// `#` starts a comment line. A pattern is an exact origin or a prefix ending in `*`. Dates are
/// UTC calendar days, both inclusive. See `Manifests/FORMAT.md`.
public struct TrustPolicy: Sendable, Equatable {
    /// One trusted key and the limits on what its signature counts for.
    public struct Key: Sendable, Equatable {
        public var verifier: VerifierKey
        /// Origin patterns this key may sign; empty means any origin.
        public var origins: [String]
        public var notBefore: String?
        public var notAfter: String?

        public init(verifier: VerifierKey, origins: [String] = [], notBefore: String? = nil, notAfter: String? = nil) {
            self.verifier = verifier
            self.origins = origins
            self.notBefore = notBefore
            self.notAfter = notAfter
        }

        /// Whether this key may sign `origin`. Origins compare as bytes, never as Unicode
        /// text: canonically equivalent spellings are different origins.
        public func allows(origin: String) -> Bool {
            origins.isEmpty || origins.contains { pattern in
                pattern.utf8.last == UInt8(ascii: "*") ? origin.utf8.starts(with: pattern.utf8.dropLast())
                    : origin.utf8.elementsEqual(pattern.utf8)
            }
        }

        /// Why the key does not count on `day` (YYYY-MM-DD), or nil when it does. Days are
        /// checked dates of one fixed shape, so their bytes order as the days do.
        public func dateProblem(on day: String) -> String? {
            if let notBefore, day.utf8.lexicographicallyPrecedes(notBefore.utf8) { return "not valid before \(notBefore)" }
            if let notAfter, notAfter.utf8.lexicographicallyPrecedes(day.utf8) { return "retired after \(notAfter)" }
            return nil
        }
    }

    public static let header = "glassbox-trust v1"

    /// How many distinct trusted keys must sign.
    public var threshold: Int
    /// Which scan findings fail verification (`scan-fail-on`); nil when the policy does not
    /// say, and the default (`ScanThreshold.standard`) applies.
    public var scanFailOn: ScanThreshold?
    /// The reviewed scan exceptions file (`scan-exceptions FILE`), as written: a path relative
    /// to the policy file's directory unless it starts with `/`. The policy names it; the
    /// command that read the policy reads it.
    public var scanExceptions: String?
    public var keys: [Key]
    /// How many distinct trusted rebuilders must attest that every artifact reproduced
    /// (`rebuild-threshold`); 0 when the policy does not ask for rebuilds.
    public var rebuildThreshold = 0
    /// Keys trusted to sign rebuild attestations (`rebuilder`), with the same limits as
    /// release keys. A rebuilder key signs attestations, never releases, and the reverse.
    public var rebuilders: [Key] = []

    public init(threshold: Int, keys: [Key], rebuildThreshold: Int = 0, rebuilders: [Key] = []) {
        self.threshold = threshold
        self.keys = keys
        self.rebuildThreshold = rebuildThreshold
        self.rebuilders = rebuilders
    }

    /// Parses a policy file.
    /// - Throws: `FormatError` naming the line: a missing header, an unknown directive, a bad
    ///   key, a duplicate key, a malformed date or pattern, or a threshold outside 1…keys.
    public init(parsing text: String) throws {
        var threshold: Int?
        var scanFailOn: ScanThreshold?
        var scanExceptions: String?
        var keys: [Key] = []
        var rebuildThreshold: Int?
        var rebuilders: [Key] = []
        var sawHeader = false
        // Lines and words are split on bytes: as characters, a space or LF followed by a combining
        // mark would not separate anything, and CR LF would be one character.
        for (index, raw) in Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if raw.contains(0x0D) { throw FormatError(line: number, "the line contains a carriage return (CR); a policy has LF line ends") }
            let words = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self) }
            let line = words.joined(separator: " ")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if !sawHeader {
                guard line == TrustPolicy.header else {
                    throw FormatError(line: number, "expected '\(TrustPolicy.header)' as the first directive")
                }
                sawHeader = true
                continue
            }
            switch words[0] {
            case "threshold":
                guard threshold == nil else { throw FormatError(line: number, "a second 'threshold' line") }
                guard words.count == 2, let k = Int(words[1]), k >= 1, String(k) == words[1] else {
                    throw FormatError(line: number, "expected 'threshold K' with K a whole number of at least 1")
                }
                threshold = k
            case "scan-fail-on":
                guard words.count == 2, let threshold = ScanThreshold(rawValue: words[1]), scanFailOn == nil else {
                    throw FormatError(line: number, "expected one 'scan-fail-on note|warning|error|none'")
                }
                scanFailOn = threshold
            case "scan-exceptions":
                guard words.count == 2, scanExceptions == nil else {
                    throw FormatError(line: number, "expected one 'scan-exceptions FILE' (a path without spaces)")
                }
                scanExceptions = words[1]
            case "key":
                let key = try TrustPolicy.key(words, line: number)
                if let other = keys.first(where: { $0.verifier.canonicalKey == key.verifier.canonicalKey }) {
                    throw FormatError(line: number, "the key \(key.verifier.name)+\(hexID(key.verifier.keyID)) is the same public key as "
                                      + "\(other.verifier.name)+\(hexID(other.verifier.keyID)); one key is one signer, whatever its names")
                }
                keys.append(key)
            case "rebuilder":
                let key = try TrustPolicy.key(words, line: number)
                if let other = rebuilders.first(where: { $0.verifier.canonicalKey == key.verifier.canonicalKey }) {
                    throw FormatError(line: number, "the rebuilder \(key.verifier.name)+\(hexID(key.verifier.keyID)) is the same public key as "
                                      + "\(other.verifier.name)+\(hexID(other.verifier.keyID)); one key is one rebuilder, whatever its names")
                }
                rebuilders.append(key)
            case "rebuild-threshold":
                guard rebuildThreshold == nil else { throw FormatError(line: number, "a second 'rebuild-threshold' line") }
                guard words.count == 2, let k = Int(words[1]), k >= 0, String(k) == words[1] else {
                    throw FormatError(line: number, "expected 'rebuild-threshold K' with K a whole number, 0 or more")
                }
                rebuildThreshold = k
            default:
                throw FormatError(line: number, "unknown directive '\(words[0])' (threshold, key, scan-fail-on, scan-exceptions, rebuild-threshold, rebuilder)")
            }
        }
        guard sawHeader else { throw FormatError(line: nil, "the file is empty; a policy starts with '\(TrustPolicy.header)'") }
        guard let threshold else { throw FormatError(line: nil, "no 'threshold K' line") }
        guard threshold <= keys.count else {
            throw FormatError(line: nil, "the threshold \(threshold) is more than the \(counting(keys.count, "key")) listed")
        }
        guard (rebuildThreshold ?? 0) <= rebuilders.count else {
            throw FormatError(line: nil, "the rebuild threshold \(rebuildThreshold ?? 0) is more than the \(counting(rebuilders.count, "rebuilder")) listed")
        }
        self.threshold = threshold
        self.keys = keys
        self.rebuildThreshold = rebuildThreshold ?? 0
        self.rebuilders = rebuilders
        self.scanFailOn = scanFailOn
        self.scanExceptions = scanExceptions
    }

    /// The policy as text that `init(parsing:)` reads back.
    public func render() -> String {
        var lines = ["# Glassbox trust policy: which keys may sign releases, and how many must.",
                     TrustPolicy.header, "threshold \(threshold)"]
        if let scanFailOn { lines.append("scan-fail-on \(scanFailOn.rawValue)") }
        if let scanExceptions { lines.append("scan-exceptions \(scanExceptions)") }
        if rebuildThreshold > 0 { lines.append("rebuild-threshold \(rebuildThreshold)") }
        for (directive, list) in [("key", keys), ("rebuilder", rebuilders)] {
            for key in list { lines.append(key.line(directive)) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The first listed key that is the same public key as an earlier one, if any.
    public static func repeatedKey(in keys: [VerifierKey]) -> (first: VerifierKey, again: VerifierKey)? {
        for (index, key) in keys.enumerated() {
            if let earlier = keys[..<index].first(where: { $0.canonicalKey == key.canonicalKey }) { return (earlier, key) }
        }
        return nil
    }

    /// A `key` or `rebuilder` line's key and its attributes.
    private static func key(_ words: [String], line number: Int) throws -> Key {
        guard words.count >= 2 else { throw FormatError(line: number, "expected '\(words[0]) NAME+KEYID+KEY …'") }
        let verifier: VerifierKey
        do { verifier = try VerifierKey(parsing: words[1]) } catch let error as NoteError {
            throw FormatError(line: number, error.description)
        }
        var key = Key(verifier: verifier)
        for attribute in words.dropFirst(2) {
            let pair = attribute.utf8.split(separator: UInt8(ascii: "="), maxSplits: 1).map { String(decoding: $0, as: UTF8.self) }
            guard pair.count == 2, !pair[1].isEmpty else {
                throw FormatError(line: number, "expected NAME=VALUE, found '\(attribute)'")
            }
            switch pair[0] {
            case "origins" where key.origins.isEmpty:
                key.origins = pair[1].utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
                    .map { String(decoding: $0, as: UTF8.self) }
                if key.origins.contains(where: { $0.isEmpty || $0.utf8.dropLast().contains(UInt8(ascii: "*")) }) {
                    throw FormatError(line: number, "an origin pattern is an origin, or a prefix ending in '*'")
                }
            case "not-before" where key.notBefore == nil:
                key.notBefore = try TrustPolicy.day(pair[1], line: number)
            case "not-after" where key.notAfter == nil:
                key.notAfter = try TrustPolicy.day(pair[1], line: number)
            default:
                throw FormatError(line: number, "unknown or repeated attribute '\(pair[0])' (origins, not-before, not-after)")
            }
        }
        if let a = key.notBefore, let b = key.notAfter, a > b {
            throw FormatError(line: number, "not-before \(a) is after not-after \(b)")
        }
        return key
    }

    /// A calendar day, exactly `YYYY-MM-DD` in ASCII digits, that exists.
    static func day(_ text: String, line: Int) throws -> String {
        guard isValidDay(text) else { throw FormatError(line: line, "'\(text)' is not a date YYYY-MM-DD") }
        return text
    }

    /// Whether `text` is exactly `YYYY-MM-DD` with ASCII digits naming a day that exists.
    public static func isValidDay(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let length = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= length
    }
}

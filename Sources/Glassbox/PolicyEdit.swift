/// Edits of a trust policy file, line by line, that leave every other byte as the reviewer
/// wrote it: comments, order, spacing. The caller parses the result before it replaces the file,
/// so no edit can leave a policy that does not parse.
public enum PolicyEdit {
    /// The two lists of keys a policy keeps.
    public enum List: String, Sendable {
        /// `key`: release keys.
        case key
        /// `rebuilder`: keys that sign rebuild attestations.
        case rebuilder
    }

    /// One `key` or `rebuilder` line of a policy file.
    public struct KeyLine: Sendable {
        /// 1-based, as parse errors count lines.
        public var number: Int
        public var list: List
        public var verifier: VerifierKey
    }

    /// Every `key` and `rebuilder` line of `text` whose verifier key parses, in file order.
    /// Lines are split as `TrustPolicy(parsing:)` splits them: on LF, words on spaces and tabs.
    public static func keyLines(_ text: [UInt8]) -> [KeyLine] {
        var found: [KeyLine] = []
        for (index, raw) in text.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let words = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
            guard words.count >= 2, let list = List(rawValue: String(decoding: words[0], as: UTF8.self)),
                  let verifier = try? VerifierKey(parsing: String(decoding: words[1], as: UTF8.self)) else { continue }
            found.append(KeyLine(number: index + 1, list: list, verifier: verifier))
        }
        return found
    }

    /// `text` with `line` added as its last line (after an LF, if the file did not end with one).
    public static func appending(_ line: String, to text: [UInt8]) -> [UInt8] {
        var out = text
        if let last = out.last, last != 0x0A { out.append(0x0A) }
        return out + Array(line.utf8) + [0x0A]
    }

    /// `text` without the lines numbered `numbers` (1-based).
    public static func removing(lines numbers: Set<Int>, from text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() where !numbers.contains(index + 1) {
            out += raw
            if index < lines.count - 1 { out.append(0x0A) }
        }
        return out
    }

    /// `text` with the value of its `directive` line (`threshold` or `rebuild-threshold`) set
    /// to `value`; the line is appended when the policy has none.
    public static func setting(_ directive: String, to value: Int, in text: [UInt8]) -> [UInt8] {
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        for (index, raw) in lines.enumerated() {
            let words = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
            if let first = words.first, first.elementsEqual(directive.utf8) {
                lines[index] = Array("\(directive) \(value)".utf8)
                return Array(lines.joined(separator: [0x0A]))
            }
        }
        return appending("\(directive) \(value)", to: text)
    }
}

extension TrustPolicy.Key {
    /// The key's policy line under `directive` (`key` or `rebuilder`), as `render()` writes it.
    public func line(_ directive: String) -> String {
        var line = "\(directive) \(verifier)"
        if !origins.isEmpty { line += " origins=" + origins.joined(separator: ",") }
        if let d = notBefore { line += " not-before=\(d)" }
        if let d = notAfter { line += " not-after=\(d)" }
        return line
    }
}

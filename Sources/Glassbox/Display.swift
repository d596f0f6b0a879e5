import GlassboxScan

/// Text from input made safe to show: nothing in it can move the cursor, recolour or clear a
/// terminal, reorder what follows it, or hide. Every string that came from a manifest, policy,
/// proof, tree path, key name or log passes through here before it reaches a terminal or a
/// text report, so a hostile release cannot paint "VERIFIED" over a failure.
public enum Display {
    /// One field (a name, a version, a path): every control character, including line breaks,
    /// and every bidi control or invisible character becomes a visible `⟨U+XXXX⟩`.
    public static func field(_ text: String) -> String { escape(text, keepingLineBreaks: false) }

    /// A whole report: as `field`, but line feeds (and tabs) stay, since the report's own lines
    /// are built from fields that were already made safe.
    public static func text(_ text: String) -> String { escape(text, keepingLineBreaks: true) }

    /// Whether a scalar must not reach a terminal as itself.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x20 || (0x7F...0x9F).contains(v) { return true }
        if v < 0xA0 { return false }
        return UnicodeTables.isBidiControl(v) || UnicodeTables.isDefaultIgnorable(v)
            || (0x2028...0x2029).contains(v)          // line and paragraph separators
            || (0xFFF9...0xFFFB).contains(v)          // interlinear annotation controls
    }

    private static func escape(_ text: String, keepingLineBreaks: Bool) -> String {
        // The common case, plain printable ASCII, costs one pass and no copy.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || (keepingLineBreaks && ($0 == 0x0A || $0 == 0x09)) }) {
            return text
        }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if keepingLineBreaks && (scalar == "\n" || scalar == "\t") || !isUnsafe(scalar) {
                out.append(scalar)
            } else {
                let digits = String(scalar.value, radix: 16, uppercase: true)
                out.append(contentsOf: "⟨U+\(String(repeating: "0", count: max(0, 4 - digits.count)))\(digits)⟩".unicodeScalars)
            }
        }
        return String(out)
    }
}

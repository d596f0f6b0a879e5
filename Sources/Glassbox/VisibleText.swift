import GlassboxScan

/// A line of text from input cut into what a reader may see as it is and what must be shown
/// as a marked escape: control characters, bidi controls (Trojan Source reorders the rest of
/// the line), zero-width and other default-ignorable characters (a line changed only by a
/// U+200B would show as two identical lines), and non-ASCII letters that look like an ASCII
/// letter inside an otherwise ASCII identifier (U+0430 CYRILLIC SMALL LETTER A for the `a` of
/// `password`). Reports (the text and HTML diff) show each hidden scalar as `⟨U+XXXX⟩`, never
/// as itself, and may highlight it.
public enum VisibleText {
    /// Why a scalar is shown as an escape.
    public enum Reason: String, Sendable, Equatable {
        /// A bidi control: it reorders what follows it on screen.
        case bidi
        /// Default-ignorable: nothing, or nearly nothing, is drawn for it.
        case invisible
        /// A control character (C0, C1, line or paragraph separator): it can move the cursor,
        /// recolour a terminal or break the line.
        case control
        /// A letter from another script drawn like an ASCII letter, inside an ASCII identifier.
        case confusable
    }

    /// One run of a line: shown text, or a single scalar to show as an escape.
    public enum Piece: Sendable, Equatable {
        case text(String)
        case hidden(Unicode.Scalar, Reason)
    }

    /// The escape shown in place of `scalar`: `⟨U+202E⟩`, as `Display` writes it.
    public static func escape(_ scalar: Unicode.Scalar) -> String {
        "⟨\(codePoint(scalar.value))⟩"
    }

    /// `U+202E`: at least four hex digits.
    public static func codePoint(_ v: UInt32) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// What a report says about a hidden scalar, e.g. `U+202E RIGHT-TO-LEFT OVERRIDE (bidi
    /// control)` or `U+0430 CYRILLIC SMALL LETTER A, looks like "a"`.
    public static func describe(_ scalar: Unicode.Scalar, _ reason: Reason) -> String {
        let name = UnicodeTables.name(scalar.value) ?? scalar.properties.name
        let named = codePoint(scalar.value) + (name.map { " \($0)" } ?? "")
        switch reason {
        case .bidi: return named + " (bidi control: reorders the text after it)"
        case .invisible: return named + " (invisible)"
        case .control: return named + " (control character)"
        case .confusable:
            let looks = asciiLookalike(scalar).map { ", looks like \"\($0)\"" } ?? ""
            return named + looks + " (in an ASCII identifier)"
        }
    }

    /// `line` cut into pieces; tabs stay text. Linear in the line's length: each identifier run
    /// is looked at once more to decide whether it is ASCII around a look-alike.
    public static func pieces(_ line: Substring) -> [Piece] {
        if line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x09 }) { return line.isEmpty ? [] : [.text(String(line))] }
        let scalars = Array(line.unicodeScalars)
        var reasons = [Reason?](repeating: nil, count: scalars.count)
        for (i, scalar) in scalars.enumerated() where scalar != "\t" && Display.isUnsafe(scalar) {
            let v = scalar.value
            reasons[i] = UnicodeTables.isBidiControl(v) ? .bidi
                : UnicodeTables.isDefaultIgnorable(v) ? .invisible : .control
        }
        // Identifier runs (letters, digits, `_`, combining marks): a look-alike letter is marked
        // only where ASCII letters around it make the word read as ASCII; Cyrillic or Greek
        // words of their own are ordinary text.
        var start = 0
        while start < scalars.count {
            guard isIdentifierScalar(scalars[start]) else { start += 1; continue }
            var end = start
            var hasASCIILetter = false
            while end < scalars.count && isIdentifierScalar(scalars[end]) {
                if scalars[end].isASCII && scalars[end].properties.isAlphabetic { hasASCIILetter = true }
                end += 1
            }
            if hasASCIILetter {
                for i in start..<end where !scalars[i].isASCII && asciiLookalike(scalars[i]) != nil {
                    reasons[i] = .confusable
                }
            }
            start = end
        }
        var out: [Piece] = []
        var run = String.UnicodeScalarView()
        for (i, scalar) in scalars.enumerated() {
            if let reason = reasons[i] {
                if !run.isEmpty { out.append(.text(String(run))); run = String.UnicodeScalarView() }
                out.append(.hidden(scalar, reason))
            } else {
                run.append(scalar)
            }
        }
        if !run.isEmpty { out.append(.text(String(run))) }
        return out
    }

    /// `line` as plain text with every hidden scalar escaped; `mark` wraps each escape (a
    /// terminal colour, say) and is given text that is already safe.
    public static func plain(_ line: Substring, mark: (String) -> String = { $0 }) -> String {
        pieces(line).map { piece in
            switch piece {
            case let .text(text): return text
            case let .hidden(scalar, _): return mark(escape(scalar))
            }
        }.joined()
    }

    private static func isIdentifierScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) }
        let properties = scalar.properties
        return properties.isAlphabetic || properties.generalCategory == .nonspacingMark
            || properties.generalCategory == .decimalNumber
    }

    /// The ASCII letter or digit a non-ASCII letter is drawn like (its UTS #39 prototype), if any.
    static func asciiLookalike(_ scalar: Unicode.Scalar) -> String? {
        guard !scalar.isASCII, scalar.properties.isAlphabetic || scalar.properties.generalCategory == .decimalNumber,
              let prototype = UnicodeTables.confusablePrototype(scalar.value), !prototype.isEmpty,
              prototype.allSatisfy({ $0 < 0x7F && Unicode.Scalar($0)!.properties.isAlphabetic || (0x30...0x39).contains($0) })
        else { return nil }
        return String(String.UnicodeScalarView(prototype.compactMap(Unicode.Scalar.init)))
    }
}

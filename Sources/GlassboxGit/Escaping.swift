/// Manifest escaping lives beside the readers, which also name paths in their messages, so both
/// layers show a path in the one form a manifest gives it.

/// Path and value escaping for manifest lines.
///
/// Every byte string has exactly one escaped form, and unescaping is its inverse:
/// `\\` for a backslash; `\n`, `\r`, `\t`; `\xHH` (lowercase) for any other C0 control,
/// DEL, each byte of a C1 control (U+0080–U+009F), each byte that is not part of valid
/// UTF-8, and a leading or trailing space. Everything else is copied as it is.
public enum Escaping {
    /// The escaped form of `raw`.
    public static func escape(_ raw: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(raw.count + 8)
        append(raw, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the escaped form of `raw` to `out`, as bytes.
    public static func append(_ raw: [UInt8], to out: inout [UInt8]) {
        var i = 0
        let n = raw.count
        func hexEscape(_ b: UInt8) {
            let digits = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(b >> 4)], digits[Int(b & 15)]])
        }
        while i < n {
            let b = raw[i]
            if b < 0x80 {
                switch b {
                case UInt8(ascii: "\\"): out.append(contentsOf: [b, b])
                case 0x0A: out.append(contentsOf: Array("\\n".utf8))
                case 0x0D: out.append(contentsOf: Array("\\r".utf8))
                case 0x09: out.append(contentsOf: Array("\\t".utf8))
                case 0x00..<0x20, 0x7F: hexEscape(b)
                case 0x20 where i == 0 || i == n - 1: hexEscape(b)
                default: out.append(b)
                }
                i += 1
                continue
            }
            let length = validUTF8Length(raw, at: i)
            if length == 0 {
                hexEscape(b)
                i += 1
            } else if length == 2 && b == 0xC2 && raw[i + 1] < 0xA0 {
                hexEscape(raw[i]); hexEscape(raw[i + 1])   // C1 control
                i += 2
            } else {
                out.append(contentsOf: raw[i..<i + length])
                i += length
            }
        }
    }

    /// The bytes `escaped` stands for, or nil when it is not the one canonical escaped form
    /// of anything.
    public static func unescape(_ escaped: ArraySlice<UInt8>) -> [UInt8]? {
        // Most paths are printable ASCII with no backslash and no space at either end: their
        // escaped form is themselves.
        if let first = escaped.first, let last = escaped.last, first != 0x20, last != 0x20,
           !escaped.contains(where: { $0 < 0x20 || $0 > 0x7E || $0 == UInt8(ascii: "\\") }) {
            return Array(escaped)
        }
        return unescapeSlow(escaped)
    }

    /// The bytes `escaped` stands for, or nil when it is not the one canonical escaped form
    /// of anything.
    public static func unescape(_ escaped: [UInt8]) -> [UInt8]? { unescape(escaped[...]) }

    private static func unescapeSlow(_ escaped: some Collection<UInt8>) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(escaped.count)
        var it = escaped.makeIterator()
        while let c = it.next() {
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            switch it.next() {
            case UInt8(ascii: "\\"): out.append(c)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "x"):
                guard let h = it.next().flatMap(hexDigitValue), let l = it.next().flatMap(hexDigitValue) else { return nil }
                out.append(h << 4 | l)
            default: return nil
            }
        }
        // Canonical: re-escaping must give back exactly the input.
        guard Array(escape(out).utf8).elementsEqual(escaped) else { return nil }
        return out
    }

    /// The length of the valid UTF-8 scalar at `i`, or 0 when the byte there does not start one.
    static func validUTF8Length(_ s: [UInt8], at i: Int) -> Int {
        let b0 = s[i]
        let n = s.count
        func cont(_ j: Int) -> Bool { j < n && s[j] & 0xC0 == 0x80 }
        switch b0 {
        case 0xC2...0xDF: return cont(i + 1) ? 2 : 0
        case 0xE0: return i + 1 < n && (0xA0...0xBF).contains(s[i + 1]) && cont(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(i + 1) && cont(i + 2) ? 3 : 0
        case 0xED: return i + 1 < n && (0x80...0x9F).contains(s[i + 1]) && cont(i + 2) ? 3 : 0
        case 0xF0: return i + 1 < n && (0x90...0xBF).contains(s[i + 1]) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF4: return i + 1 < n && (0x80...0x8F).contains(s[i + 1]) && cont(i + 2) && cont(i + 3) ? 4 : 0
        default: return 0
        }
    }
}

/// The value of one lowercase hex digit, or nil for any other byte.
public func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: c - 48
    case 97...102: c - 87
    default: nil
    }
}

// Text in UTF-16 or UTF-32, which a compiler reads when a byte order mark says so (C#, PowerShell,
// Visual Studio's resource and project files). Every other byte of such a file is a NUL or
// looks like one, so git's rule would call it binary; the scan reads it decoded instead.

/// The encoding a file's first bytes name.
enum TextEncoding: Equatable {
    case utf8, utf16LE, utf16BE, utf32LE, utf32BE

    /// From the first (up to) four bytes: a UTF-32 byte order mark before a UTF-16 one, since
    /// `FF FE 00 00` starts both; anything else is UTF-8.
    init(bom head: ArraySlice<UInt8>) {
        let b = Array(head.prefix(4))
        if b.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { self = .utf32LE }
        else if b.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { self = .utf32BE }
        else if b.starts(with: [0xFF, 0xFE]) { self = .utf16LE }
        else if b.starts(with: [0xFE, 0xFF]) { self = .utf16BE }
        else { self = .utf8 }
    }

    var unitBytes: Int {
        switch self {
        case .utf8: 1
        case .utf16LE, .utf16BE: 2
        case .utf32LE, .utf32BE: 4
        }
    }
}

/// Turns UTF-16 or UTF-32 into UTF-8 as it arrives, in chunks split anywhere. The byte order
/// mark becomes U+FEFF at the start (as in a UTF-8 file that has one). What does not decode (a
/// lone surrogate, a value past U+10FFFF, an odd byte at the end) becomes the byte 0xFF, which
/// is never UTF-8: the lexer skips it as it skips any broken byte.
struct WideTextDecoder {
    let encoding: TextEncoding
    /// A code unit cut by the end of a chunk.
    private var partial: [UInt8] = []
    /// A high surrogate waiting for its low one.
    private var high: UInt32?

    init(_ encoding: TextEncoding) {
        precondition(encoding != .utf8)
        self.encoding = encoding
    }

    /// The UTF-8 for `bytes`, with what a previous chunk left over.
    mutating func decode(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3 / 2)
        let size = encoding.unitBytes
        var i = 0
        // Complete the unit a previous chunk cut.
        while !partial.isEmpty && i < bytes.count {
            partial.append(bytes[i])
            i += 1
            if partial.count == size {
                partial.withUnsafeBytes { unit($0, 0, into: &out) }
                partial = []
            }
        }
        while i + size <= bytes.count {
            unit(bytes, i, into: &out)
            i += size
        }
        if i < bytes.count { partial = Array(bytes[i...]) }
        return out
    }

    /// What is left at the end of the file.
    mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        if high != nil { out.append(0xFF); high = nil }
        if !partial.isEmpty { out.append(0xFF); partial = [] }
        return out
    }

    private mutating func unit(_ bytes: UnsafeRawBufferPointer, _ at: Int, into out: inout [UInt8]) {
        let value: UInt32 = switch encoding {
        case .utf16LE: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8
        case .utf16BE: UInt32(bytes[at]) << 8 | UInt32(bytes[at + 1])
        case .utf32LE: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        case .utf32BE: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        case .utf8: 0
        }
        if encoding == .utf16LE || encoding == .utf16BE {
            if let first = high {
                high = nil
                if (0xDC00...0xDFFF).contains(value) {
                    encodeUTF8(0x10000 + ((first - 0xD800) << 10) + (value - 0xDC00), into: &out)
                    return
                }
                out.append(0xFF)   // a high surrogate without its low one
            }
            if (0xD800...0xDBFF).contains(value) { high = value; return }
        }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { out.append(0xFF); return }
        encodeUTF8(value, into: &out)
    }
}

func encodeUTF8(_ v: UInt32, into out: inout [UInt8]) {
    switch v {
    case 0..<0x80: out.append(UInt8(v))
    case 0x80..<0x800: out += [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)]
    case 0x800..<0x10000: out += [UInt8(0xE0 | v >> 12), UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)]
    default: out += [UInt8(0xF0 | v >> 18), UInt8(0x80 | v >> 12 & 0x3F), UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)]
    }
}

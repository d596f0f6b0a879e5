import GlassboxGit
import Foundation

/// Standard base64 with padding, as signed notes and checkpoints use.
public func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

/// Decodes standard padded base64, rejecting anything else (whitespace, URL alphabet,
/// missing padding, or non-canonical trailing bits), so each value has one encoding.
public func decodeBase64(_ text: some StringProtocol) -> [UInt8]? {
    guard let data = Data(base64Encoded: String(text)) else { return nil }
    let bytes = [UInt8](data)
    guard base64(bytes) == text else { return nil }
    return bytes
}

/// Appends the lowercase hex of `bytes` to `out`.
func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
    let digits: StaticString = "0123456789abcdef"
    digits.withUTF8Buffer { table in
        for byte in bytes {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 15)])
        }
    }
}

/// Lowercase hex.
public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Decodes lowercase hex of exactly `count` bytes, or nil.
public func decodeHex(_ text: [UInt8], count: Int) -> [UInt8]? { decodeHex(text[...], count: count) }

/// Decodes lowercase hex of exactly `count` bytes, or nil.
public func decodeHex(_ text: ArraySlice<UInt8>, count: Int) -> [UInt8]? {
    guard text.count == count * 2 else { return nil }
    // Entry lines hold a million of these: decode straight from contiguous storage.
    let decoded = text.withContiguousStorageIfAvailable { chars -> [UInt8]? in
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var i = 0
        while i < chars.count {
            guard let high = hexDigitValue(chars[i]), let low = hexDigitValue(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
    return decoded ?? nil
}

import Foundation
import GlassboxGit

// Content a reader cannot review as text: executables, LFS pointers, large binary blobs.

/// Executables, LFS pointers and large binaries, from the first bytes of a file (`head`) and its size.
func opaqueContent(path: [UInt8], size: UInt64, head: ArraySlice<UInt8>, binary: Bool, options: ScanOptions) -> [ScanFinding] {
    var out: [ScanFinding] = []
    let magic: [(bytes: [UInt8], what: String)] = [
        ([0x7F, 0x45, 0x4C, 0x46], "an ELF executable or object"), ([0x4D, 0x5A], "a PE (Windows) executable"),
        ([0xFE, 0xED, 0xFA, 0xCE], "a Mach-O binary"), ([0xFE, 0xED, 0xFA, 0xCF], "a Mach-O binary"),
        ([0xCE, 0xFA, 0xED, 0xFE], "a Mach-O binary"), ([0xCF, 0xFA, 0xED, 0xFE], "a Mach-O binary"),
        ([0xCA, 0xFE, 0xBA, 0xBE], "a Mach-O universal binary"), (Array("!<arch>\n".utf8), "a static library archive"),
    ]
    if let hit = magic.first(where: { head.starts(with: $0.bytes) }),
       hit.bytes != [0x4D, 0x5A] || binary {   // "MZ" starts some text files too
        out.append(ScanFinding("binary-executable", .warning, path: path, "\(hit.what), committed where source is expected"))
    }
    if head.starts(with: Array("version https://git-lfs.github.com/spec/v1\n".utf8)) && size < 1024 {
        out.append(ScanFinding("lfs-pointer", .warning, path: path, "a Git LFS pointer: the real content is stored elsewhere and cannot be reviewed here"))
    }
    if size >= options.largeBinaryBytes && binary {
        out.append(ScanFinding("binary-large", .note, path: path, "a binary blob of \(size) bytes"))
    }
    return out
}


/// Whether a file is binary, from its first bytes (at most `ContentLimits.binaryProbe`): git's
/// rule (a NUL in the first 8,000 bytes), or the signature of a compressed or object format
/// followed by bytes that are not UTF-8. Compressed data can run for kilobytes without a NUL
/// (zlib-compressed git objects, gzip and zstd files in test data); lexed as text, its random
/// bytes read as bidi controls and invisible characters. The signature alone is not enough:
/// `x^` starts a valid zlib header and a line of maths, so the bytes after it must not decode.
func isBinary(_ head: ArraySlice<UInt8>) -> Bool {
    // memchr: the C library's search, many bytes at a time (this runs on every file).
    if head.withUnsafeBytes({ $0.isEmpty ? false : memchr($0.baseAddress!, 0, $0.count) != nil }) { return true }
    guard compressedSignatures.contains(where: { head.starts(with: $0) }) || isZlibHeader(head) else { return false }
    return !isUTF8(head)
}

/// Formats that are not text even without a NUL early on: gzip, bzip2, xz, zstd, lzip, 7z,
/// zip, PNG, JPEG, GIF, git pack and pack index, PDF's binary marker, Java class, WebAssembly.
let compressedSignatures: [[UInt8]] = [
    [0x1F, 0x8B], Array("BZh".utf8), [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], [0x28, 0xB5, 0x2F, 0xFD],
    Array("LZIP".utf8), [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], Array("PK\u{03}\u{04}".utf8),
    [0x89, 0x50, 0x4E, 0x47], [0xFF, 0xD8, 0xFF], Array("GIF8".utf8), Array("PACK".utf8),
    [0xFF, 0x74, 0x4F, 0x63], Array("%PDF".utf8), [0xCA, 0xFE, 0xBA, 0xBE], [0x00, 0x61, 0x73, 0x6D],
]

/// RFC 1950: compression method 8, a window of at most 32 KiB, and a check that makes the
/// first two bytes, read as a big-endian number, a multiple of 31.
func isZlibHeader(_ head: ArraySlice<UInt8>) -> Bool {
    guard head.count >= 2 else { return false }
    let cmf = head[head.startIndex], flg = head[head.startIndex + 1]
    return cmf & 0x0F == 8 && cmf >> 4 <= 7 && (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0
}

/// What UTF-8 allows after `lead`: how many continuation bytes, and the range of the first of
/// them (the others are 0x80...0xBF); 0 continuation bytes when `lead` starts no sequence of two
/// or more. The ranges exclude overlong forms, surrogates and code points past U+10FFFF.
func utf8Sequence(lead: UInt8) -> (continuation: Int, low: UInt8, high: UInt8) {
    switch lead {
    case 0xC2...0xDF: (1, 0x80, 0xBF)
    case 0xE0: (2, 0xA0, 0xBF)
    case 0xE1...0xEC, 0xEE...0xEF: (2, 0x80, 0xBF)
    case 0xED: (2, 0x80, 0x9F)
    case 0xF0: (3, 0x90, 0xBF)
    case 0xF1...0xF3: (3, 0x80, 0xBF)
    case 0xF4: (3, 0x80, 0x8F)
    default: (0, 0, 0)
    }
}

/// Whether the bytes are UTF-8, allowing a sequence cut off at the end (the probe may end
/// inside a character).
func isUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
    var i = bytes.startIndex
    while i < bytes.endIndex {
        let lead = bytes[i]
        if lead < 0x80 { i += 1; continue }
        let (count, low, high) = utf8Sequence(lead: lead)
        if count == 0 { return false }
        for k in 1...count {
            guard i + k < bytes.endIndex else { return true }
            let byte = bytes[i + k]
            if k == 1 ? !(low...high).contains(byte) : !(0x80...0xBF).contains(byte) { return false }
        }
        i += count + 1
    }
    return true
}

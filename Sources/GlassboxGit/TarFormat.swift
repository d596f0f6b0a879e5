/// The subset of tar that every common extractor (GNU tar, bsdtar, Python's tarfile) reads
/// the same way, parsed from the decompressed bytes, 512-byte block by block. Anything outside
/// it is refused, naming the header by number and offset, its type, and the field or key.
/// Manifests/FORMAT.md § The archive subset accepted lists what is accepted.

/// One 512-byte header's fields, checked.
struct TarHeader {
    enum Magic { case posix, gnu }

    let block: [UInt8]
    let magic: Magic
    let type: UInt8
    let size: UInt64
    let mode: UInt64

    /// Whether the checksum field holds the sum of the header's bytes (the field itself counted
    /// as spaces); `signedToo` also accepts the sum of the bytes as signed chars, as GNU tar
    /// does when it decides whether a file is a plain tar.
    static func checksumMatches(_ block: [UInt8], signedToo: Bool = false) -> Bool {
        guard block.count == 512, let recorded = octal(block[148..<156]) else { return false }
        var unsigned: Int64 = 0, signed: Int64 = 0
        for (index, byte) in block.enumerated() {
            let value = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        return Int64(recorded) == unsigned || (signedToo && Int64(recorded) == signed)
    }

    /// A header block, or why it is outside the subset.
    init(_ block: [UInt8]) throws(TarFormatError) {
        self.block = block
        guard TarHeader.checksumMatches(block) else {
            throw TarFormatError("its checksum is wrong or is not an octal number (the field holds \(shown(block[148..<156])))")
        }
        type = block[156]
        switch (Array(block[257..<263]), Array(block[263..<265])) {
        case (Array("ustar\0".utf8), Array("00".utf8)): magic = .posix
        case (Array("ustar ".utf8), Array(" \0".utf8)): magic = .gnu
        default:
            throw TarFormatError("its magic and version are \(shown(block[257..<265])), neither POSIX ustar ('ustar\\0' '00') "
                                 + "nor GNU ('ustar ' ' \\0'); readers disagree on what other headers mean")
        }
        for (name, range) in [("name", 0..<100), ("linkname", 157..<257), ("uname", 265..<297), ("gname", 297..<329)] {
            try TarHeader.checkString(block[range], name)
        }
        if magic == .posix {
            try TarHeader.checkString(block[345..<500], "prefix")
            guard block[500..<512].allSatisfy({ $0 == 0 }) else { throw TarFormatError("bytes 500 to 511 are not zero") }
        } else {
            // GNU headers keep incremental times, multi-volume offsets and sparse maps here.
            guard block[345..<512].allSatisfy({ $0 == 0 }) else {
                throw TarFormatError("GNU header bytes 345 to 511 (times, volume offset, sparse map) are not zero")
            }
        }
        guard let mode = TarHeader.octal(block[100..<108]), mode <= 0o7777777 else {
            throw TarFormatError("its mode field \(shown(block[100..<108])) is not an octal number")
        }
        self.mode = mode
        guard let size = TarHeader.number(block[124..<136]), size <= UInt64(Int64.max) else {
            throw TarFormatError("its size field \(shown(block[124..<136])) is not an octal or base-256 number")
        }
        self.size = size
        for (name, range) in [("uid", 108..<116), ("gid", 116..<124), ("mtime", 136..<148)] {
            guard range.allSatisfy({ block[$0] == 0 }) || TarHeader.number(block[range]) != nil else {
                throw TarFormatError("its \(name) field \(shown(block[range])) is not a number")
            }
        }
        for (name, range) in [("devmajor", 329..<337), ("devminor", 337..<345)] {
            guard range.allSatisfy({ block[$0] == 0 }) || TarHeader.octal(block[range]) != nil else {
                throw TarFormatError("its \(name) field \(shown(block[range])) is not a number")
            }
        }
    }

    /// A string field: its bytes up to the first NUL, and only NULs after it, so no reader can
    /// find a second string behind the first (GNU tar reads a star header's prefix that way).
    private static func checkString(_ field: ArraySlice<UInt8>, _ name: String) throws(TarFormatError) {
        if let end = field.firstIndex(of: 0), !field[end...].allSatisfy({ $0 == 0 }) {
            throw TarFormatError("its \(name) field has bytes after the NUL that ends it")
        }
    }

    /// The field's bytes up to the first NUL.
    func string(_ range: Range<Int>) -> [UInt8] { Array(block[range].prefix { $0 != 0 }) }

    /// The path the header itself gives: a POSIX header's prefix, a slash and its name.
    var headerPath: [UInt8] {
        let name = string(0..<100)
        let prefix = magic == .posix ? string(345..<500) : []
        return prefix.isEmpty ? name : prefix + [UInt8(ascii: "/")] + name
    }

    /// Octal digits after optional spaces, then only spaces and NULs to the field's end (what
    /// GNU tar accepts; libarchive would stop at the first other byte and ignore the rest).
    static func octal(_ field: ArraySlice<UInt8>) -> UInt64? {
        var index = field.startIndex
        while index < field.endIndex && field[index] == UInt8(ascii: " ") { index += 1 }
        var value: UInt64 = 0, digits = 0
        while index < field.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(field[index]) {
            guard value <= UInt64.max >> 3 else { return nil }
            value = value << 3 | UInt64(field[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard digits > 0, field[index...].allSatisfy({ $0 == 0 || $0 == UInt8(ascii: " ") }) else { return nil }
        return value
    }

    /// Octal, or GNU's base-256 form for a value that does not fit: 0x80 then big-endian bytes.
    static func number(_ field: ArraySlice<UInt8>) -> UInt64? {
        guard field.first == 0x80 else { return octal(field) }
        var value: UInt64 = 0
        for byte in field.dropFirst() {
            guard value <= UInt64.max >> 8 else { return nil }
            value = value << 8 | UInt64(byte)
        }
        return value
    }
}

/// Why a header is outside the subset; the reader adds which header it is.
struct TarFormatError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Bytes shown in a message, every one visible.
func shown(_ bytes: ArraySlice<UInt8>) -> String { "'" + Escaping.escape(Array(bytes)) + "'" }

/// The name tar gives a type flag, for messages.
func typeName(_ type: UInt8) -> String {
    let names: [UInt8: String] = [
        0: "an old regular file ('\\0')", UInt8(ascii: "0"): "a regular file", UInt8(ascii: "1"): "a hard link",
        UInt8(ascii: "2"): "a symlink", UInt8(ascii: "3"): "a character device", UInt8(ascii: "4"): "a block device",
        UInt8(ascii: "5"): "a directory", UInt8(ascii: "6"): "a fifo", UInt8(ascii: "7"): "a contiguous file",
        UInt8(ascii: "g"): "a pax global header", UInt8(ascii: "x"): "a pax extended header",
        UInt8(ascii: "L"): "a GNU long name", UInt8(ascii: "K"): "a GNU long link name",
        UInt8(ascii: "S"): "a GNU sparse file", UInt8(ascii: "V"): "a GNU volume header",
        UInt8(ascii: "M"): "a GNU multi-volume continuation", UInt8(ascii: "N"): "a GNU old long name",
        UInt8(ascii: "D"): "a GNU dump directory", UInt8(ascii: "X"): "a Solaris extended header",
    ]
    let flag = type >= 0x20 && type < 0x7F ? "'\(Character(Unicode.Scalar(type)))'" : "0x" + String(type, radix: 16)
    return "type \(flag)" + (names[type].map { " (\($0))" } ?? "")
}

/// One member of the archive as the subset defines it: a file, a symlink or a directory.
struct TarMember {
    enum Kind { case file, link, directory }
    /// The member's own header, counted from 1, and the offset in the decompressed stream of
    /// the first header that belongs to it (a pax or long-name header before it).
    let index: Int
    let offset: UInt64
    let path: [UInt8]
    let kind: Kind
    let mode: UInt64
    let size: UInt64
    let linkTarget: [UInt8]
}

/// The pax keywords whose meaning every reader agrees on; any other is refused (GNU.sparse.*,
/// SCHILY.*, LIBARCHIVE.*, hdrcharset, charset, and vendor keys each change the tree for some
/// readers and not for others).
private let paxKeys: Set<String> = ["path", "linkpath", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment"]

/// Reads members from a decompressed tar stream, one block at a time, refusing everything
/// outside the subset. Memory holds one header and one pax or long-name record.
final class TarMemberReader {
    private let stream: DecompressedFile
    private let buffer: UnsafeMutableRawBufferPointer
    private(set) var offset: UInt64 = 0
    private var headers = 0
    /// Files, symlinks and directories returned so far.
    private var members = 0
    /// Bytes of the current member's content still to be read, and its padding.
    private var remaining: UInt64 = 0
    private var padding: UInt64 = 0

    /// Records past this are refused: a pax header with a path of `TreeLimits.pathBytes`
    /// and every other key fits many times over.
    static let recordBytes: UInt64 = 1 << 20

    init(_ stream: DecompressedFile) {
        self.stream = stream
        buffer = .allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Why the archive is refused, with where.
    struct Failure: Error {
        let message: String
        /// The member's path when it is known, else empty.
        let path: [UInt8]
    }

    private func failure(_ message: String, at: UInt64, header: Int, type: UInt8?, path: [UInt8] = []) -> Failure {
        let what = type.map { ", \(typeName($0))" } ?? ""
        return Failure(message: "header \(header) at byte \(at) of the tar stream\(what): \(message)", path: path)
    }

    /// Exactly `count` bytes, or nil at a clean end of the stream before the first byte.
    private func readExactly(_ count: Int) throws -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, count - out.count)])
            let got = try readStream(chunk)
            if got == 0 {
                if out.isEmpty { return nil }
                throw Failure(message: "the tar stream ends inside a block, at byte \(offset)", path: [])
            }
            out += UnsafeRawBufferPointer(rebasing: chunk[0..<got])
        }
        return out
    }

    private func readStream(_ into: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            let count = try stream.read(into)
            offset += UInt64(count)
            return count
        } catch let error as DecompressionError {
            throw Failure(message: error.message, path: [])
        }
    }

    /// The next member, or nil after the end-of-archive marker and the zero blocks after it.
    func next() throws -> TarMember? {
        try skipContent()
        var pax: [String: [UInt8]]?
        var longName: [UInt8]?, longLink: [UInt8]?
        var firstOffset: UInt64?
        while true {
            let at = offset
            guard let block = try readExactly(512) else {
                throw Failure(message: "the tar stream ends at byte \(at) without the end-of-archive marker (two zero blocks)", path: [])
            }
            if block.allSatisfy({ $0 == 0 }) {
                if pax != nil || longName != nil || longLink != nil {
                    throw failure("an extended or long-name header is followed by the end of the archive", at: at, header: headers + 1, type: nil)
                }
                try finishAfterEnd(at)
                // Python's tarfile cannot open an archive whose first member is the end marker
                // (a global header before it counts for nothing), where tar -x extracts nothing.
                guard members > 0 else {
                    throw Failure(message: "the archive holds no file, symlink or directory: the end-of-archive marker at byte \(at) "
                                  + "comes first, and Python's tarfile cannot open such an archive", path: [])
                }
                return nil
            }
            headers += 1
            if firstOffset == nil { firstOffset = at }
            let header: TarHeader
            do { header = try TarHeader(block) } catch { throw failure(error.message, at: at, header: headers, type: block[156]) }
            let fail = { (message: String) in self.failure(message, at: at, header: self.headers, type: header.type) }
            if let limit = declaredLimit, header.size > limit {
                throw fail(stream.compression == .none
                    ? "it declares \(header.size) bytes of content, more than this \(stream.size)-byte archive holds"
                    : "it declares \(header.size) bytes of content, more than this \(stream.size)-byte \(stream.compression.rawValue) "
                        + "archive can hold under Glassbox's limit of \(TarballLimits.expansion) decompressed bytes for each byte")
            }
            switch header.type {
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let global = header.type == UInt8(ascii: "g")
                guard header.magic == .posix else { throw fail("a pax header must have the POSIX ustar magic") }
                guard pax == nil, longName == nil, longLink == nil else { throw fail("follows another extended or long-name header") }
                guard header.size <= Self.recordBytes else { throw fail("holds \(header.size) bytes; at most \(Self.recordBytes) are read") }
                let records = try parsePax(try content(header.size), fail)
                if global {
                    // git archive writes one global header, first, holding only the commit id as a
                    // comment, which no extractor acts on. Any other global header changes how
                    // every later member is read, differently by reader: refused.
                    guard headers == 1 else { throw fail("a pax global header is allowed only as the first header") }
                    if let key = records.keys.sorted().first(where: { $0 != "comment" }) {
                        throw fail("pax global header key '\(key)': a global header may hold only 'comment'")
                    }
                    firstOffset = nil
                } else {
                    pax = records
                }
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard header.magic == .gnu else { throw fail("a GNU long-name header must have the GNU magic") }
                guard pax == nil, header.type == UInt8(ascii: "L") ? longName == nil : longLink == nil else {
                    throw fail("follows a pax header or another header of its type")
                }
                guard header.size >= 2, header.size <= UInt64(TreeLimits.pathBytes) + 1 else {
                    throw fail("holds \(header.size) bytes; a long name has 1 to \(TreeLimits.pathBytes) bytes and a NUL")
                }
                var name = try content(header.size)
                guard name.removeLast() == 0, !name.contains(0) else {
                    throw fail("a long name must end with its one NUL")
                }
                if header.type == UInt8(ascii: "L") { longName = name } else { longLink = name }
            case UInt8(ascii: "0"), UInt8(ascii: "2"), UInt8(ascii: "5"):
                if pax != nil && header.magic != .posix || (longName != nil || longLink != nil) && header.magic != .gnu {
                    throw fail("its magic is not the one of the extended or long-name header before it")
                }
                return try member(header, pax: pax ?? [:], longName: longName, longLink: longLink,
                                  offset: firstOffset ?? at, fail)
            default:
                let named = pax?["path"] ?? longName ?? header.headerPath
                throw Failure(message: fail("a release holds only regular files ('0'), symlinks ('2') and directories ('5'), "
                                            + "with pax ('x', and one 'g' of comments) or GNU long-name ('L', 'K') headers").message,
                              path: named)
            }
        }
    }

    /// The most content a member may declare: the bound `DecompressedFile` enforces, known
    /// ahead when the archive is a regular file.
    private var declaredLimit: UInt64? {
        guard stream.size > 0 else { return nil }
        return stream.compression == .none ? UInt64(stream.size) : UInt64(stream.size) * TarballLimits.expansion + TarballLimits.slackBytes
    }

    private func member(_ header: TarHeader, pax: [String: [UInt8]], longName: [UInt8]?, longLink: [UInt8]?,
                        offset: UInt64, _ fail: @escaping (String) -> Failure) throws -> TarMember {
        if pax["path"] != nil && longName != nil || pax["linkpath"] != nil && longLink != nil {
            throw fail("both a pax header and a GNU long-name header give its name")
        }
        let path = pax["path"] ?? longName ?? header.headerPath
        let failHere = { (message: String) in Failure(message: fail(message).message, path: path) }
        if let size = pax["size"], size != Array(String(header.size).utf8) {
            throw failHere("its pax size \(shown(size[...])) differs from its header's \(header.size)")
        }
        let kind: TarMember.Kind
        switch header.type {
        case UInt8(ascii: "0"): kind = .file
        case UInt8(ascii: "2"): kind = .link
        default: kind = .directory
        }
        if kind != .file && header.size != 0 { throw failHere("a symlink or directory must declare no content") }
        let link = pax["linkpath"] ?? longLink ?? header.string(157..<257)
        if kind != .link && !link.isEmpty { throw failHere("only a symlink may have a link name") }
        // A trailing slash makes some readers take a regular file for a directory.
        if kind == .file && path.last == UInt8(ascii: "/") { throw failHere("a regular file's name ends with '/'") }
        members += 1
        remaining = kind == .file ? header.size : 0
        padding = (512 - remaining % 512) % 512
        return TarMember(index: headers, offset: offset, path: path, kind: kind, mode: header.mode, size: header.size,
                         linkTarget: kind == .link ? link : [])
    }

    /// The next bytes of the current member's content into `into`; 0 at its end.
    func readContent(_ into: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(UInt64(into.count), remaining))
        let got = try readStream(UnsafeMutableRawBufferPointer(rebasing: into[0..<want]))
        guard got > 0 else { throw Failure(message: "the tar stream ends inside a member's content, at byte \(offset)", path: []) }
        remaining -= UInt64(got)
        return got
    }

    /// Skips what is left of the current member's content and its padding.
    private func skipContent() throws {
        while remaining > 0 { _ = try readContent(buffer) }
        if padding > 0, try readExactly(Int(padding)) == nil {
            throw Failure(message: "the tar stream ends inside a member's padding, at byte \(offset)", path: [])
        }
        padding = 0
    }

    /// A record's bytes and its padding to the next block.
    private func content(_ size: UInt64) throws -> [UInt8] {
        guard let bytes = try readExactly(Int(size)) else { throw Failure(message: "the tar stream ends inside a header's record", path: []) }
        let pad = Int((512 - size % 512) % 512)
        if pad > 0, try readExactly(pad) == nil { throw Failure(message: "the tar stream ends inside a header's record", path: []) }
        return bytes
    }

    /// After the first zero block: at least one more, and nothing but zeros to the end, so no
    /// second archive hides behind the marker for a reader that reads on (`tar -i`).
    private func finishAfterEnd(_ at: UInt64) throws {
        var zeros: UInt64 = 512
        while true {
            let got = try readStream(buffer)
            if got == 0 { break }
            guard UnsafeRawBufferPointer(rebasing: buffer[0..<got]).allSatisfy({ $0 == 0 }) else {
                throw Failure(message: "bytes other than zeros follow the end-of-archive block at byte \(at)", path: [])
            }
            zeros += UInt64(got)
        }
        guard zeros >= 1024 else {
            throw Failure(message: "the end-of-archive marker at byte \(at) is one zero block, not two", path: [])
        }
    }

    /// `length key=value\n` records, each key once, each value checked for its key.
    private func parsePax(_ bytes: [UInt8], _ fail: (String) -> Failure) throws -> [String: [UInt8]] {
        var records: [String: [UInt8]] = [:]
        var start = 0
        while start < bytes.count {
            guard let space = bytes[start...].prefix(20).firstIndex(of: UInt8(ascii: " ")),
                  space > start, bytes[start] != UInt8(ascii: "0"),
                  bytes[start..<space].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let length = Int(String(decoding: bytes[start..<space], as: UTF8.self)),
                  length <= bytes.count - start, length > space - start + 1 else {
                throw fail("a pax record at byte \(start) of the header has no valid length")
            }
            let end = start + length
            guard bytes[end - 1] == UInt8(ascii: "\n"), let equals = bytes[(space + 1)..<(end - 1)].firstIndex(of: UInt8(ascii: "=")) else {
                throw fail("the pax record at byte \(start) of the header is not 'length key=value' and a newline")
            }
            let keyBytes = bytes[(space + 1)..<equals]
            let value = Array(bytes[(equals + 1)..<(end - 1)])
            let key = String(decoding: keyBytes, as: UTF8.self)
            guard paxKeys.contains(key), keyBytes.allSatisfy({ $0 < 0x80 }) else {
                throw fail("pax key \(shown(keyBytes)) is not one every reader handles alike (\(paxKeys.sorted().joined(separator: ", ")))")
            }
            guard records[key] == nil else { throw fail("pax key '\(key)' is given twice") }
            if let problem = paxValueProblem(key, value) { throw fail("pax key '\(key)': \(problem)") }
            records[key] = value
            start = end
        }
        return records
    }

    private func paxValueProblem(_ key: String, _ value: [UInt8]) -> String? {
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        switch key {
        case "path", "linkpath":
            // Readers turn a pax name from UTF-8 into the locale's character set, or not, and
            // some normalise it: only ASCII reads the same everywhere.
            if value.isEmpty { return "an empty value, which unsets the key for some readers" }
            if value.contains(where: { $0 == 0 || $0 >= 0x80 }) { return "a name outside ASCII, which readers convert differently" }
        case "size", "uid", "gid":
            if value.isEmpty || value.count > 19 || !value.allSatisfy(digits.contains) { return "not a decimal number" }
        case "mtime", "atime", "ctime":
            var rest = value[...]
            if rest.first == UInt8(ascii: "-") { rest = rest.dropFirst() }
            let whole = rest.prefix(while: digits.contains)
            rest = rest.dropFirst(whole.count)
            if rest.first == UInt8(ascii: ".") { rest = rest.dropFirst().drop(while: digits.contains) }
            if whole.isEmpty || !rest.isEmpty { return "not a time" }
        default:
            if value.contains(0) { return "holds a NUL" }
        }
        return nil
    }
}

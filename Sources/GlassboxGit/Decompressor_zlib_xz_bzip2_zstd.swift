#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCompression

/// The one compression layer a release tarball may have.
public enum TarballCompression: String, Sendable {
    case none, gzip, xz, bzip2, zstd
}

/// Limits on what decompressing a tarball may cost, whatever the archive claims.
public enum TarballLimits {
    /// Decompressed bytes allowed for each byte of a compressed archive (plus `slackBytes`).
    /// gzip cannot exceed 1032 to 1; real source tarballs are 3 to 20 to 1. xz, bzip2 and zstd
    /// can reach millions to 1, so a few kilobytes would otherwise cost hours of hashing.
    public static let expansion: UInt64 = 2048
    /// Decompressed bytes always allowed, however small the archive.
    public static let slackBytes: UInt64 = 1 << 20
    /// Memory the xz decoder may use (its dictionary): `xz -9` needs 65 MiB.
    public static let xzMemory: UInt64 = 256 << 20
    /// zstd's window, as a power of two (zstd's own default limit: 128 MiB).
    public static let zstdWindowLog: Int32 = 27
}

/// A tarball file's bytes with its one compression layer removed, in order, streaming.
///
/// The layer is chosen from the file's first bytes, never its name. Each decoder is driven to
/// the end of exactly one gzip member, xz stream, bzip2 stream or zstd frame, and that end must
/// be the end of the file: a second member, stream padding or any trailing byte is refused,
/// because another decoder (gzip -d, xz -d, bsdtar) would read them as more archive or ignore
/// them. Output is bounded by `TarballLimits`.
final class DecompressedFile {
    let path: String
    /// The file's size when it is a regular file, else 0.
    let size: Int
    private(set) var compression = TarballCompression.none
    /// Bytes of the file read so far.
    private(set) var bytesRead = 0
    /// Decompressed bytes returned so far.
    private(set) var produced: UInt64 = 0
    private var source: Source
    private var decoder = Decoder.none
    private var input: UnsafeMutableRawBufferPointer
    private var inputStart = 0, inputEnd = 0
    private var fileEnded = false
    private var streamEnded = false

    /// Where the bytes come from: an open file, or bytes in memory handed over at most
    /// `chunk` at a time, as short reads from a pipe would give them.
    private enum Source {
        case descriptor(Int32)
        case memory([UInt8], chunk: Int, offset: Int)
    }

    /// The archive's first bytes, as read before any decoding (up to 512).
    private(set) var head: [UInt8] = []

    convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DecompressionError("cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR {
            close(fd)
            throw DecompressionError("is a directory, not a tarball")
        }
        let size = fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? Int(st.st_size) : 0
        try self.init(path: path, source: .descriptor(fd), size: size)
    }

    /// The archive held in `bytes`, read as a regular file of that size would be, but at most
    /// `chunk` bytes per read (the fuzz checks vary it: no reading may depend on where reads end).
    convenience init(bytes: [UInt8], name: String, chunk: Int) throws {
        try self.init(path: name, source: .memory(bytes, chunk: max(1, chunk), offset: 0), size: bytes.count)
    }

    private init(path: String, source: Source, size: Int) throws {
        self.path = path
        self.source = source
        self.size = size
        input = .allocate(byteCount: 1 << 16, alignment: 16)
        // Every property is set: from here a throw runs deinit, which frees the buffer and
        // closes the file.
        // A short read is not the end: read until 512 bytes are there or the file ends.
        while inputEnd < 512 && !fileEnded { try fill(keep: true) }
        head = Array(UnsafeRawBufferPointer(rebasing: input[0..<min(inputEnd, 512)]))
        compression = try sniff(head)
        decoder = try Decoder(compression)
    }

    deinit {
        decoder.free()
        input.deallocate()
        if case let .descriptor(fd) = source { close(fd) }
    }

    /// The compression a file starting with `head` has. GNU tar reads a file whose first block
    /// is a valid tar header as plain tar whatever its first bytes, and otherwise recognises a
    /// compression by its magic; bsdtar always goes by the magic. A file that is both is
    /// refused, and so is any compression GNU tar or bsdtar knows that Glassbox does not read.
    private func sniff(_ head: [UInt8]) throws -> TarballCompression {
        let magics: [([UInt8], String, TarballCompression?)] = [
            ([0x1F, 0x8B], "gzip", .gzip), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz", .xz),
            (Array("BZh".utf8), "bzip2", .bzip2), ([0x28, 0xB5, 0x2F, 0xFD], "zstd", .zstd),
            ([0x1F, 0x9D], "compress (.Z)", nil), (Array("LZIP".utf8), "lzip", nil), ([0x5D, 0x00, 0x00], "lzma", nil),
            ([0x89] + Array("LZO".utf8), "lzop", nil), ([0x04, 0x22, 0x4D, 0x18], "lz4", nil),
            (Array("PK".utf8) + [0x03, 0x04], "zip", nil), (Array("7z".utf8) + [0xBC, 0xAF, 0x27, 0x1C], "7-Zip", nil),
        ]
        guard let (_, name, kind) = magics.first(where: { head.starts(with: $0.0) }) else { return .none }
        if head.count == 512 && TarHeader.checksumMatches(head, signedToo: true) {
            throw DecompressionError("is ambiguous: its first block is a valid tar header and also starts like \(name) data, "
                                     + "so GNU tar and bsdtar would read two different archives")
        }
        guard let kind else { throw DecompressionError("is \(name) data; a release tarball is plain or compressed with gzip, xz, bzip2 or zstd") }
        return kind
    }

    /// Reads more of the file into the input buffer; `keep` appends to what is there.
    private func fill(keep: Bool = false) throws {
        if !keep { inputStart = 0; inputEnd = 0 }
        guard !fileEnded, inputEnd < input.count else { return }
        if case let .memory(bytes, chunk, offset) = source {
            let count = min(chunk, bytes.count - offset, input.count - inputEnd)
            if count > 0 {
                bytes.withUnsafeBytes { (input.baseAddress! + inputEnd).copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            }
            source = .memory(bytes, chunk: chunk, offset: offset + count)
            if count == 0 { fileEnded = true }
            inputEnd += count
            bytesRead += count
            return
        }
        guard case let .descriptor(fd) = source else { return }
        while true {
            let count = systemRead(fd, input.baseAddress! + inputEnd, input.count - inputEnd)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw DecompressionError("cannot read: \(String(cString: strerror(errno)))") }
            if count == 0 { fileEnded = true }
            inputEnd += count
            bytesRead += count
            return
        }
    }

    /// The most decompressed bytes allowed once `bytesRead` bytes of the file were read.
    var outputLimit: UInt64 {
        compression == .none ? UInt64.max : UInt64(max(bytesRead, size)) * TarballLimits.expansion + TarballLimits.slackBytes
    }

    /// Fills `buffer` with the next decompressed bytes; returns how many, 0 only at the end of
    /// the one stream, which must also be the end of the file.
    func read(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if streamEnded { return 0 }
            if inputStart == inputEnd && !fileEnded { try fill() }
            let available = UnsafeRawBufferPointer(rebasing: input[inputStart..<inputEnd])
            let step: (consumed: Int, written: Int, ended: Bool)
            if case .none = decoder {
                let count = min(available.count, buffer.count)
                if count > 0 { buffer.baseAddress!.copyMemory(from: available.baseAddress!, byteCount: count) }
                step = (count, count, count == 0 && fileEnded)
            } else {
                step = try decoder.step(available, buffer, finish: fileEnded)
            }
            inputStart += step.consumed
            produced += UInt64(step.written)
            guard produced <= outputLimit else {
                throw DecompressionError("decompresses to more than \(TarballLimits.expansion) bytes for each byte of the "
                                         + "\(compression.rawValue) file (over \(outputLimit) bytes): refused as a decompression bomb")
            }
            if step.ended {
                streamEnded = true
                if compression != .none {
                    if inputStart == inputEnd && !fileEnded { try fill() }
                    guard inputStart == inputEnd else {
                        throw DecompressionError("has data after the end of its \(compression.rawValue) stream (a second "
                                                 + "member or stream, padding or trailing bytes), which other decompressors read differently")
                    }
                }
            }
            if step.written > 0 || step.ended { return step.written }
            if step.consumed == 0 && fileEnded && inputStart == inputEnd {
                throw DecompressionError("\(compression.rawValue) data is truncated")
            }
        }
    }
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#else
private let systemRead = Darwin.read
#endif

/// A decompression failure, in words.
struct DecompressionError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// One decoder's C state; freed exactly once, by `free()` from the owner's deinit.
private enum Decoder {
    case none
    case gzip(UnsafeMutablePointer<z_stream>)
    case xz(UnsafeMutablePointer<lzma_stream>)
    case bzip2(UnsafeMutablePointer<bz_stream>)
    case zstd(OpaquePointer)

    init(_ kind: TarballCompression) throws {
        switch kind {
        case .none: self = .none
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            guard glassbox_inflate_init_gzip(stream) == Z_OK else {
                stream.deallocate()
                throw DecompressionError("inflateInit2: zlib cannot start")
            }
            self = .gzip(stream)
        case .xz:
            let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
            stream.initialize(to: lzma_stream())
            // No LZMA_CONCATENATED: the decoder stops at the end of the first stream.
            guard lzma_stream_decoder(stream, TarballLimits.xzMemory, glassbox_lzma_decoder_flags) == LZMA_OK else {
                stream.deallocate()
                throw DecompressionError("lzma_stream_decoder: liblzma cannot start")
            }
            self = .xz(stream)
        case .bzip2:
            let stream = UnsafeMutablePointer<bz_stream>.allocate(capacity: 1)
            stream.initialize(to: bz_stream())
            guard BZ2_bzDecompressInit(stream, 0, 0) == BZ_OK else {
                stream.deallocate()
                throw DecompressionError("BZ2_bzDecompressInit: libbz2 cannot start")
            }
            self = .bzip2(stream)
        case .zstd:
            guard let context = ZSTD_createDCtx() else { throw DecompressionError("ZSTD_createDCtx: out of memory") }
            guard ZSTD_isError(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, TarballLimits.zstdWindowLog)) == 0 else {
                ZSTD_freeDCtx(context)
                throw DecompressionError("ZSTD_DCtx_setParameter: libzstd cannot limit its window")
            }
            self = .zstd(context)
        }
    }

    func free() {
        switch self {
        case .none: break
        case let .gzip(stream): inflateEnd(stream); stream.deallocate()
        case let .xz(stream): lzma_end(stream); stream.deallocate()
        case let .bzip2(stream): BZ2_bzDecompressEnd(stream); stream.deallocate()
        case let .zstd(context): ZSTD_freeDCtx(context)
        }
    }

    /// Decodes from `input` into `output`: bytes consumed and written, and whether the one
    /// stream ended. `finish`: no input follows what is given.
    func step(_ input: UnsafeRawBufferPointer, _ output: UnsafeMutableRawBufferPointer,
              finish: Bool) throws -> (consumed: Int, written: Int, ended: Bool) {
        let inBase = input.baseAddress ?? UnsafeRawPointer(output.baseAddress!)
        switch self {
        case .none: return (0, 0, true)
        case let .gzip(z):
            z.pointee.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: UInt8.self))
            z.pointee.avail_in = UInt32(input.count)
            z.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            z.pointee.avail_out = UInt32(output.count)
            let status = inflate(z, Z_NO_FLUSH)
            let consumed = input.count - Int(z.pointee.avail_in), written = output.count - Int(z.pointee.avail_out)
            switch status {
            case Z_OK: return (consumed, written, false)
            case Z_STREAM_END: return (consumed, written, true)
            case Z_BUF_ERROR where finish && consumed == 0 && written == 0: throw DecompressionError("gzip data is truncated")
            case Z_BUF_ERROR: return (consumed, written, false)
            default:
                let text = z.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw DecompressionError("gzip data is corrupt (zlib: \(Escaping.escape(Array(text.utf8))))")
            }
        case let .xz(s):
            s.pointee.next_in = inBase.assumingMemoryBound(to: UInt8.self)
            s.pointee.avail_in = input.count
            s.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            s.pointee.avail_out = output.count
            let status = lzma_code(s, finish ? LZMA_FINISH : LZMA_RUN)
            let consumed = input.count - s.pointee.avail_in, written = output.count - s.pointee.avail_out
            switch status {
            case LZMA_OK: return (consumed, written, false)
            case LZMA_STREAM_END: return (consumed, written, true)
            case LZMA_BUF_ERROR where finish: throw DecompressionError("xz data is truncated")
            case LZMA_BUF_ERROR: return (consumed, written, false)
            case LZMA_MEMLIMIT_ERROR, LZMA_MEM_ERROR:
                throw DecompressionError("xz data needs more than \(TarballLimits.xzMemory >> 20) MiB to decompress")
            case LZMA_UNSUPPORTED_CHECK: throw DecompressionError("xz data has an integrity check liblzma cannot verify")
            default: throw DecompressionError("xz data is corrupt (liblzma: error \(status.rawValue))")
            }
        case let .bzip2(s):
            s.pointee.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: CChar.self))
            s.pointee.avail_in = UInt32(input.count)
            s.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: CChar.self)
            s.pointee.avail_out = UInt32(output.count)
            let status = BZ2_bzDecompress(s)
            let consumed = input.count - Int(s.pointee.avail_in), written = output.count - Int(s.pointee.avail_out)
            switch status {
            case BZ_OK where finish && consumed == 0 && written == 0: throw DecompressionError("bzip2 data is truncated")
            case BZ_OK: return (consumed, written, false)
            case BZ_STREAM_END: return (consumed, written, true)
            default: throw DecompressionError("bzip2 data is corrupt (libbz2: error \(status))")
            }
        case let .zstd(context):
            var inBuffer = ZSTD_inBuffer(src: inBase, size: input.count, pos: 0)
            var outBuffer = ZSTD_outBuffer(dst: output.baseAddress!, size: output.count, pos: 0)
            let status = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            if ZSTD_isError(status) != 0 {
                let text = String(cString: ZSTD_getErrorName(status))
                throw DecompressionError("zstd data is corrupt or needs a window over \(1 << (TarballLimits.zstdWindowLog - 20)) MiB "
                                         + "(libzstd: \(Escaping.escape(Array(text.utf8))))")
            }
            // 0: a frame was decoded and flushed whole. Nothing may follow it.
            if status == 0 { return (inBuffer.pos, outBuffer.pos, true) }
            if finish && inBuffer.pos == 0 && outBuffer.pos == 0 && input.isEmpty { throw DecompressionError("zstd data is truncated") }
            return (inBuffer.pos, outBuffer.pos, false)
        }
    }
}

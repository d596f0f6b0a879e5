#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where objects sit in a repository's pack files, read from the pack indexes (`.idx`, version 2).
///
/// Used only to choose the order in which blobs are read: reading in pack order walks each pack
/// from start to end, so libgit2's small, capped pack windows are each mapped once instead of
/// thrashing. The output never depends on it: results are placed by path, not by read order.
/// An index that is missing its pack, unreadable, or wrong in any field is skipped, which only
/// costs speed: libgit2 still reads (and refuses) the objects itself.
struct PackOrder {
    private var indexes: [PackIndex] = []

    /// Loads every valid version-2 index under `objectsDirectory/pack` that has its pack beside it.
    init(objectsDirectory: String) {
        let packDirectory = objectsDirectory + "/pack"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packDirectory)) ?? []
        for name in names.sorted() where name.hasSuffix(".idx") {
            let stem = packDirectory + "/" + name.dropLast(4)
            // An index without its pack is ignored, as git and libgit2 ignore it.
            guard let pack = PackFacts(path: stem + ".pack"),
                  let bytes = readRegularFile(stem + ".idx", limit: PackIndex.maximumBytes),
                  let index = PackIndex(bytes, pack: pack) else { continue }
            indexes.append(index)
        }
    }

    /// A sort key for the object: (pack number, offset), or one past the packs for an object in
    /// no index (a loose object).
    func key(_ oid: [UInt8]) -> (Int, UInt64) {
        for (number, index) in indexes.enumerated() {
            if let offset = index.offset(of: oid) { return (number, offset) }
        }
        return (indexes.count, 0)
    }
}

/// What an index is checked against: its pack's size, object count and trailing checksum.
struct PackFacts {
    var size: UInt64
    var objectCount: UInt32
    var checksum: [UInt8]

    /// Reads the 12-byte header (`PACK`, version 2 or 3, object count) and the 20-byte trailer;
    /// nil for anything else.
    init?(path: String) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }   // read-only: a failed close loses nothing
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size >= 12 + 20 else { return nil }
        var header = [UInt8](repeating: 0, count: 12)
        var trailer = [UInt8](repeating: 0, count: 20)
        guard preadFully(fd, &header, at: 0), preadFully(fd, &trailer, at: off_t(st.st_size) - 20),
              header.prefix(4).elementsEqual(Array("PACK".utf8)) else { return nil }
        let version = bigEndian32(header, 4)
        guard version == 2 || version == 3 else { return nil }
        size = UInt64(st.st_size)
        objectCount = bigEndian32(header, 8)
        checksum = trailer
    }
}

/// A version-2 pack index, every field checked before it is used:
///
///     magic ff 74 4f 63 | version 2 | fan-out: 256 × u32, non-decreasing, the last = N
///     N × 20-byte names, ascending, each in the fan-out bucket of its first byte
///     N × u32 CRC-32 | N × u32 offsets (high bit set: index into the 64-bit table)
///     L × u64 offsets, L ≤ N | pack checksum (20) | index checksum (20)
///
/// Every offset must fall inside the pack, between its header and its trailer.
struct PackIndex {
    /// Larger indexes (about 38 million objects) are skipped rather than read.
    static let maximumBytes = 1 << 30

    private static let magic: [UInt8] = [0xFF, 0x74, 0x4F, 0x63, 0, 0, 0, 2]
    private static let namesStart = 8 + 256 * 4

    private let bytes: [UInt8]
    private let count: Int
    private let offsetsStart: Int
    private let largeStart: Int
    private let largeCount: Int

    init?(_ bytes: [UInt8], pack: PackFacts) {
        let fixed = PackIndex.namesStart + 40
        guard bytes.count >= fixed, bytes.prefix(8).elementsEqual(PackIndex.magic) else { return nil }
        var previous: UInt32 = 0
        for bucket in 0..<256 {
            let total = bigEndian32(bytes, 8 + bucket * 4)
            guard total >= previous else { return nil }
            previous = total
        }
        let count = Int(previous)
        guard UInt64(count) == UInt64(pack.objectCount), count <= (bytes.count - fixed) / 28 else { return nil }
        let extra = bytes.count - fixed - count * 28
        guard extra % 8 == 0, extra / 8 <= count else { return nil }
        self.bytes = bytes
        self.count = count
        offsetsStart = PackIndex.namesStart + count * 24
        largeStart = offsetsStart + count * 4
        largeCount = extra / 8
        guard bytes[(largeStart + largeCount * 8)...].prefix(20).elementsEqual(pack.checksum),
              namesAreOrdered(), offsetsFit(packSize: pack.size) else { return nil }
    }

    /// Names ascend strictly, and each sits in the fan-out bucket of its first byte.
    private func namesAreOrdered() -> Bool {
        var k = 0
        for bucket in 0..<256 {
            let end = Int(bigEndian32(bytes, 8 + bucket * 4))
            while k < end {
                let name = PackIndex.namesStart + k * 20
                guard Int(bytes[name]) == bucket else { return false }
                if k > 0 {
                    guard bytes[(name - 20)..<name].lexicographicallyPrecedes(bytes[name..<(name + 20)]) else { return false }
                }
                k += 1
            }
        }
        return true
    }

    /// Every offset, small or from the 64-bit table, lies within the pack's objects.
    private func offsetsFit(packSize: UInt64) -> Bool {
        for k in 0..<count {
            guard let offset = offset(at: k), offset >= 12, offset < packSize - 20 else { return false }
        }
        return true
    }

    private func offset(at k: Int) -> UInt64? {
        let small = bigEndian32(bytes, offsetsStart + k * 4)
        guard small & 0x8000_0000 != 0 else { return UInt64(small) }
        let slot = Int(small & 0x7FFF_FFFF)
        guard slot < largeCount else { return nil }
        return UInt64(bigEndian32(bytes, largeStart + slot * 8)) << 32 | UInt64(bigEndian32(bytes, largeStart + slot * 8 + 4))
    }

    /// The object's offset in the pack, or nil when the index does not list it.
    func offset(of oid: [UInt8]) -> UInt64? {
        guard oid.count == 20 else { return nil }
        let first = Int(oid[0])
        var low = first == 0 ? 0 : Int(bigEndian32(bytes, 8 + (first - 1) * 4))
        var high = Int(bigEndian32(bytes, 8 + first * 4))
        while low < high {
            let middle = (low + high) / 2
            let name = PackIndex.namesStart + middle * 20
            var order = 0
            for i in 0..<20 where bytes[name + i] != oid[i] {
                order = bytes[name + i] < oid[i] ? -1 : 1
                break
            }
            if order == 0 { return offset(at: middle) }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }
}

private func bigEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
}

/// Reads exactly `buffer.count` bytes at `offset`; false on an error or a short file.
private func preadFully(_ fd: Int32, _ buffer: inout [UInt8], at offset: off_t) -> Bool {
    var done = 0
    while done < buffer.count {
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, offset + off_t(done)) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        done += n
    }
    return true
}

/// A regular file's bytes, read without following a symlink, when its size is at most `limit`;
/// nil otherwise, or when it changes size while being read.
private func readRegularFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return nil }
    defer { close(fd) }   // read-only: a failed close loses nothing
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size >= 0, st.st_size <= limit else { return nil }
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    guard preadFully(fd, &bytes, at: 0) else { return nil }
    var probe = [UInt8](repeating: 0, count: 1)
    guard pread(fd, &probe, 1, off_t(st.st_size)) == 0 else { return nil }
    return bytes
}

import Foundation

/// Where objects sit in a repository's pack files, read from the pack indexes (`.idx`, version 2).
///
/// Used only to choose the order in which blobs are read: reading in pack order walks each pack
/// from start to end, so libgit2's small, capped pack windows are each mapped once instead of
/// thrashing. The output never depends on it: results are placed by path, not by read order.
struct PackOrder {
    private struct Index {
        let data: Data
        let count: Int
    }
    private var indexes: [Index] = []

    /// Loads every readable version-2 index under `objectsDirectory/pack`; others are skipped,
    /// which only costs speed.
    init(objectsDirectory: String) {
        let packDirectory = (objectsDirectory as NSString).appendingPathComponent("pack")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packDirectory)) ?? []
        for name in names.sorted() where name.hasSuffix(".idx") {
            let path = (packDirectory as NSString).appendingPathComponent(name)
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped),
                  data.count >= 8 + 1024,
                  data.prefix(8).elementsEqual([0xFF, 0x74, 0x4F, 0x63, 0, 0, 0, 2]) else { continue }
            let count = Int(PackOrder.uint32(data, 8 + 255 * 4))
            guard data.count >= 8 + 1024 + count * 28 else { continue }
            indexes.append(Index(data: data, count: count))
        }
    }

    private static func uint32(_ data: Data, _ offset: Int) -> UInt32 {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var value: UInt32 = 0
            for i in 0..<4 { value = value << 8 | UInt32(raw[offset + i]) }
            return value
        }
    }

    /// A sort key for the object: (pack number, offset), or one past the packs for an object in
    /// no index (a loose object).
    func key(_ oid: [UInt8]) -> (Int, UInt64) {
        for (number, index) in indexes.enumerated() {
            if let offset = offset(of: oid, in: index) { return (number, offset) }
        }
        return (indexes.count, 0)
    }

    private func offset(of oid: [UInt8], in index: Index) -> UInt64? {
        let data = index.data
        let first = Int(oid[0])
        var low = first == 0 ? 0 : Int(PackOrder.uint32(data, 8 + (first - 1) * 4))
        var high = Int(PackOrder.uint32(data, 8 + first * 4))
        let names = 8 + 1024
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> UInt64? in
            while low < high {
                let middle = (low + high) / 2
                let base = names + middle * 20
                var order = 0
                for i in 0..<20 where raw[base + i] != oid[i] {
                    order = raw[base + i] < oid[i] ? -1 : 1
                    break
                }
                if order == 0 {
                    let offsets = names + index.count * 24
                    let small = PackOrder.uint32(data, offsets + middle * 4)
                    guard small & 0x8000_0000 != 0 else { return UInt64(small) }
                    let large = offsets + index.count * 4 + Int(small & 0x7FFF_FFFF) * 8
                    guard large + 8 <= data.count else { return nil }
                    return UInt64(PackOrder.uint32(data, large)) << 32 | UInt64(PackOrder.uint32(data, large + 4))
                }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }
}

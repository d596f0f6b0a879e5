import Foundation
import GlassboxCrypto

/// RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256.
///
/// Hashes are 32-byte arrays. Proofs run from the leaf up to the root, as in RFC 9162 §2.1.3.
public enum Merkle {
    /// The root of the empty tree: SHA-256 of the empty string.
    public static let emptyRoot: [UInt8] = SHA256.hash([UInt8]())

    /// The leaf hash: SHA-256(0x00 ‖ leaf).
    public static func leafHash(_ leaf: some ContiguousBytes) -> [UInt8] {
        let hasher = SHA256.Hasher()
        hasher.update([UInt8(0)])
        hasher.update(leaf)
        return hasher.finish()
    }

    /// The interior node hash: SHA-256(0x01 ‖ left ‖ right).
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        SHA256.hash(prefix: 1, left, right)
    }

    /// Accumulates leaf hashes one at a time and yields the root; memory is O(log n).
    public struct RootBuilder: Sendable {
        // Complete subtrees, largest first; sizes are distinct powers of two.
        private var stack: [(hash: [UInt8], size: UInt64)] = []
        /// The number of leaves appended so far.
        public private(set) var count: UInt64 = 0

        public init() {}

        /// Appends the next leaf hash.
        public mutating func append(leafHash: [UInt8]) {
            var node = (hash: leafHash, size: UInt64(1))
            while let top = stack.last, top.size == node.size {
                stack.removeLast()
                node = (Merkle.nodeHash(top.hash, node.hash), top.size * 2)
            }
            stack.append(node)
            count += 1
        }

        /// The root of the leaves appended so far.
        public var root: [UInt8] {
            guard var hash = stack.last?.hash else { return Merkle.emptyRoot }
            for lower in stack.dropLast().reversed() { hash = Merkle.nodeHash(lower.hash, hash) }
            return hash
        }
    }

    /// The root of a tree with these leaf hashes.
    public static func root(leafHashes: [UInt8]...) -> [UInt8] { root(leafHashes: leafHashes) }

    /// The root of a tree with these leaf hashes.
    public static func root(leafHashes: [[UInt8]]) -> [UInt8] {
        var builder = RootBuilder()
        for hash in leafHashes { builder.append(leafHash: hash) }
        return builder.root
    }

    /// The largest power of two smaller than `n`. Precondition: n > 1.
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    private static func subtreeRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        var builder = RootBuilder()
        for hash in leaves { builder.append(leafHash: hash) }
        return builder.root
    }

    /// The inclusion proof for leaf `index` (RFC 6962 §2.1.1 PATH).
    /// Precondition: `index < leafHashes.count`.
    public static func inclusionProof(index: Int, leafHashes: [[UInt8]]) -> [[UInt8]] {
        precondition(index >= 0 && index < leafHashes.count, "leaf index out of range")
        return path(index, leafHashes[...])
    }

    private static func path(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        let n = d.count
        if n <= 1 { return [] }
        let k = split(n)
        let lo = d.startIndex
        if m < k {
            return path(m, d[lo..<lo + k]) + [subtreeRoot(d[(lo + k)...])]
        }
        return path(m - k, d[(lo + k)...]) + [subtreeRoot(d[lo..<lo + k])]
    }

    /// The consistency proof from the first `size1` leaves to all of them (RFC 6962 §2.1.2).
    /// Precondition: `0 < size1 <= leafHashes.count`.
    public static func consistencyProof(size1: Int, leafHashes: [[UInt8]]) -> [[UInt8]] {
        precondition(size1 > 0 && size1 <= leafHashes.count, "size out of range")
        return subproof(size1, leafHashes[...], true)
    }

    private static func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ complete: Bool) -> [[UInt8]] {
        let n = d.count
        if m == n { return complete ? [] : [subtreeRoot(d)] }
        let k = split(n)
        let lo = d.startIndex
        if m <= k {
            return subproof(m, d[lo..<lo + k], complete) + [subtreeRoot(d[(lo + k)...])]
        }
        return subproof(m - k, d[(lo + k)...], false) + [subtreeRoot(d[lo..<lo + k])]
    }

    /// Why a proof failed to verify.
    public enum ProofError: Error, Equatable, CustomStringConvertible, Sendable {
        case indexOutOfRange(index: UInt64, size: UInt64)
        case badHashLength(Int)
        case wrongProofLength
        case sizesOutOfOrder(size1: UInt64, size2: UInt64)
        case rootMismatch(expected: [UInt8], computed: [UInt8])

        public var description: String {
            switch self {
            case let .indexOutOfRange(index, size): "leaf index \(index) is outside a tree of size \(size)"
            case let .badHashLength(n): "a hash is \(n) bytes, not 32"
            case .wrongProofLength: "the proof has the wrong number of hashes"
            case let .sizesOutOfOrder(a, b): "cannot prove consistency from size \(a) to size \(b)"
            case let .rootMismatch(expected, computed):
                "the proof leads to root \(base64(computed)), not \(base64(expected))"
            }
        }
    }

    /// Checks an inclusion proof (RFC 9162 §2.1.3.2).
    /// - Throws: `ProofError` unless `leafHash` at `index` is in the tree of `size` with `root`.
    public static func verifyInclusion(index: UInt64, size: UInt64, leafHash: [UInt8],
                                       proof: [[UInt8]], root: [UInt8]) throws {
        let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
        guard root.count == 32 else { throw ProofError.badHashLength(root.count) }
        guard constantTimeEquals(computed, root) else {
            throw ProofError.rootMismatch(expected: root, computed: computed)
        }
    }

    /// The root an inclusion proof leads to.
    /// - Throws: `ProofError` for an index outside the tree, a hash that is not 32 bytes, or a
    ///   proof of the wrong length.
    public static func rootFromInclusionProof(index: UInt64, size: UInt64, leafHash: [UInt8],
                                              proof: [[UInt8]]) throws -> [UInt8] {
        guard index < size else { throw ProofError.indexOutOfRange(index: index, size: size) }
        guard leafHash.count == 32 else { throw ProofError.badHashLength(leafHash.count) }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard p.count == 32 else { throw ProofError.badHashLength(p.count) }
            guard sn != 0 else { throw ProofError.wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError.wrongProofLength }
        return r
    }

    /// Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of `size1` with `root1` is a
    /// prefix of the tree of `size2` with `root2`. Equal sizes need an empty proof and equal
    /// roots; `size1 == 0` is always an error, as in transparency-dev/merkle.
    /// - Throws: `ProofError`.
    public static func verifyConsistency(size1: UInt64, size2: UInt64, proof: [[UInt8]],
                                         root1: [UInt8], root2: [UInt8]) throws {
        guard size1 > 0, size1 <= size2 else { throw ProofError.sizesOutOfOrder(size1: size1, size2: size2) }
        if size1 == size2 {
            guard proof.isEmpty else { throw ProofError.wrongProofLength }
            guard constantTimeEquals(root1, root2) else {
                throw ProofError.rootMismatch(expected: root2, computed: root1)
            }
            return
        }
        guard root1.count == 32 else { throw ProofError.badHashLength(root1.count) }
        guard root2.count == 32 else { throw ProofError.badHashLength(root2.count) }
        guard !proof.isEmpty else { throw ProofError.wrongProofLength }
        for p in proof where p.count != 32 { throw ProofError.badHashLength(p.count) }

        var path = proof[...]
        if size1 & (size1 - 1) == 0 { path = ([root1] + proof)[...] }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path.first!
        var sr = fr
        for c in path.dropFirst() {
            guard sn != 0 else { throw ProofError.wrongProofLength }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError.wrongProofLength }
        guard constantTimeEquals(fr, root1) else { throw ProofError.rootMismatch(expected: root1, computed: fr) }
        guard constantTimeEquals(sr, root2) else { throw ProofError.rootMismatch(expected: root2, computed: sr) }
    }
}

import Foundation
import Glassbox
import Testing

/// The RFC 6962 root straight from the definition, as a cross-check for the fast one.
func naiveRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
    if leaves.isEmpty { return Merkle.emptyRoot }
    if leaves.count == 1 { return Merkle.leafHash(leaves.first!) }
    var k = 1
    while k * 2 < leaves.count { k *= 2 }
    let lo = leaves.startIndex
    return Merkle.nodeHash(naiveRoot(leaves[lo..<lo + k]), naiveRoot(leaves[(lo + k)...]))
}

private struct InclusionVector: Decodable {
    var leafIdx: UInt64
    var treeSize: UInt64
    var root: Data
    var leafHash: Data
    var proof: [Data]?
    var wantErr: Bool
}

private struct ConsistencyVector: Decodable {
    var size1: UInt64
    var size2: UInt64
    var root1: Data
    var root2: Data
    var proof: [Data]?
    var wantErr: Bool
}

private let testdata = vectorsDirectory.appendingPathComponent("rfc6962-merkle/transparency-dev-merkle-testdata")

private func vectorFiles(_ kind: String) -> [String] {
    let base = testdata.appendingPathComponent(kind)
    let files = FileManager.default.enumerator(atPath: base.path)!.compactMap { $0 as? String }
    return files.filter { $0.hasSuffix(".json") }.sorted()
}

@Suite struct MerkleVectorTests {
    // transparency-dev/merkle testdata: an error exactly when wantErr is true.
    @Test(arguments: vectorFiles("inclusion"))
    func inclusion(file: String) throws {
        let data = try Data(contentsOf: testdata.appendingPathComponent("inclusion/" + file))
        let v = try JSONDecoder().decode(InclusionVector.self, from: data)
        var failed = false
        do {
            try Merkle.verifyInclusion(index: v.leafIdx, size: v.treeSize, leafHash: [UInt8](v.leafHash),
                                       proof: (v.proof ?? []).map { [UInt8]($0) }, root: [UInt8](v.root))
        } catch { failed = true }
        #expect(failed == v.wantErr, "\(file)")
    }

    @Test(arguments: vectorFiles("consistency"))
    func consistency(file: String) throws {
        let data = try Data(contentsOf: testdata.appendingPathComponent("consistency/" + file))
        let v = try JSONDecoder().decode(ConsistencyVector.self, from: data)
        var failed = false
        do {
            try Merkle.verifyConsistency(size1: v.size1, size2: v.size2, proof: (v.proof ?? []).map { [UInt8]($0) },
                                         root1: [UInt8](v.root1), root2: [UInt8](v.root2))
        } catch { failed = true }
        #expect(failed == v.wantErr, "\(file)")
    }

    @Test func allVectorsAreThere() {
        #expect(vectorFiles("inclusion").count + vectorFiles("consistency").count == 196)
    }
}

private struct ReferenceTree: Decodable {
    struct Inclusion: Decodable { var leafIndex: Int; var treeSize: Int; var proof_hex: [String] }
    struct Consistency: Decodable { var size1: Int; var size2: Int; var proof_hex: [String] }
    var leaf_inputs_hex: [String]
    var root_hashes_by_tree_size: [String: String]
    var inclusion_proofs: [Inclusion]
    var consistency_proofs: [Consistency]
}

@Suite struct MerkleReferenceTreeTests {
    private let tree: ReferenceTree = try! JSONDecoder().decode(
        ReferenceTree.self,
        from: Data(contentsOf: vectorsDirectory.appendingPathComponent("rfc6962-merkle/rfc6962_reference_tree.json")))
    private var leaves: [[UInt8]] { tree.leaf_inputs_hex.map { $0.isEmpty ? [] : unhex($0) } }

    // printf '' | openssl dgst -sha256  → e3b0c442…; printf '\x00L123456' | openssl dgst -sha256 → 395aa064…
    @Test func hasher() {
        #expect(hex(Merkle.emptyRoot) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Merkle.leafHash([UInt8]())) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        #expect(hex(Merkle.leafHash(bytes("L123456"))) == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        #expect(hex(Merkle.nodeHash(bytes("N123"), bytes("N456"))) == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
    }

    @Test func rootsForSizesZeroToEight() {
        #expect(tree.root_hashes_by_tree_size.count == 9)
        for (size, want) in tree.root_hashes_by_tree_size {
            let n = Int(size)!
            #expect(hex(Merkle.root(leafHashes: leaves.prefix(n).map { Merkle.leafHash($0) })) == want, "size \(n)")
        }
    }

    @Test func generatedProofsMatchTheReference() throws {
        let hashes = leaves.map { Merkle.leafHash($0) }
        for p in tree.inclusion_proofs {
            let proof = Merkle.inclusionProof(index: p.leafIndex, leafHashes: Array(hashes.prefix(p.treeSize)))
            #expect(proof.map(hex) == p.proof_hex, "inclusion \(p.leafIndex) in \(p.treeSize)")
            try Merkle.verifyInclusion(index: UInt64(p.leafIndex), size: UInt64(p.treeSize), leafHash: hashes[p.leafIndex],
                                       proof: proof, root: unhex(tree.root_hashes_by_tree_size[String(p.treeSize)]!))
        }
        for p in tree.consistency_proofs {
            let proof = Merkle.consistencyProof(size1: p.size1, leafHashes: Array(hashes.prefix(p.size2)))
            #expect(proof.map(hex) == p.proof_hex, "consistency \(p.size1) → \(p.size2)")
            try Merkle.verifyConsistency(size1: UInt64(p.size1), size2: UInt64(p.size2), proof: proof,
                                         root1: unhex(tree.root_hashes_by_tree_size[String(p.size1)]!),
                                         root2: unhex(tree.root_hashes_by_tree_size[String(p.size2)]!))
        }
    }
}

@Suite struct MerkleCrossCheckTests {
    private static let leaves: [[UInt8]] = (0..<140).map { Array("leaf \($0)".utf8) }

    @Test func fastRootEqualsNaiveRootUpTo140() {
        for n in 0...140 {
            let fast = Merkle.root(leafHashes: Self.leaves.prefix(n).map { Merkle.leafHash($0) })
            #expect(fast == naiveRoot(Self.leaves.prefix(n)), "size \(n)")
        }
    }

    @Test func everyProofVerifiesAndTamperingFails() throws {
        let hashes = Self.leaves.prefix(40).map { Merkle.leafHash($0) }
        for size in 1...40 {
            let tree = Array(hashes.prefix(size))
            let root = naiveRoot(Self.leaves.prefix(size))
            for index in 0..<size {
                let proof = Merkle.inclusionProof(index: index, leafHashes: tree)
                try Merkle.verifyInclusion(index: UInt64(index), size: UInt64(size), leafHash: tree[index], proof: proof, root: root)
                // The proof for one leaf must not prove its neighbour.
                if size > 1 {
                    let other = (index + 1) % size
                    #expect(throws: Merkle.ProofError.self) {
                        try Merkle.verifyInclusion(index: UInt64(index), size: UInt64(size), leafHash: tree[other], proof: proof, root: root)
                    }
                }
            }
            for size1 in 1...size {
                let proof = Merkle.consistencyProof(size1: size1, leafHashes: tree)
                let root1 = naiveRoot(Self.leaves.prefix(size1))
                try Merkle.verifyConsistency(size1: UInt64(size1), size2: UInt64(size), proof: proof, root1: root1, root2: root)
                if size1 < size {
                    let wrong = naiveRoot(Self.leaves.prefix(size1 - 1) + [bytes("forged")])
                    #expect(throws: Merkle.ProofError.self) {
                        try Merkle.verifyConsistency(size1: UInt64(size1), size2: UInt64(size), proof: proof, root1: wrong, root2: root)
                    }
                }
            }
        }
    }
}

private struct RekorFile: Decodable {
    struct Entry: Decodable {
        var name: String
        var entry_body_b64: String
        var leafIndex: UInt64
        var treeSize: UInt64
        var rootHash_b64: String
        var proof_b64: [String]
        var expected_valid: Bool
    }
    var entries: [Entry]
}

@Suite struct RekorProofTests {
    // Real Sigstore Rekor inclusion proofs, with tree sizes up to 1.3 billion.
    @Test func realLogProofs() throws {
        let data = try Data(contentsOf: vectorsDirectory.appendingPathComponent("rfc6962-merkle/rekor_real_inclusion_proofs.json"))
        let file = try JSONDecoder().decode(RekorFile.self, from: data)
        #expect(file.entries.count == 11)
        for e in file.entries {
            let leaf = Merkle.leafHash(decodeBase64(e.entry_body_b64)!)
            var valid = true
            do {
                try Merkle.verifyInclusion(index: e.leafIndex, size: e.treeSize, leafHash: leaf,
                                           proof: e.proof_b64.map { decodeBase64($0)! }, root: decodeBase64(e.rootHash_b64)!)
            } catch { valid = false }
            #expect(valid == e.expected_valid, "\(e.name)")
        }
    }
}

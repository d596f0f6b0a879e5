import Foundation
import Glassbox
import GlassboxCrypto
import Testing

private let noteDirectory = vectorsDirectory.appendingPathComponent("signed-note-checkpoint")

private struct NoteVectors: Decodable {
    struct Vector: Decodable {
        struct Expected: Decodable {
            var verifies: Bool?
            var text: String?
            var verified_signers: [String]?
        }
        var file: String
        var verifier_keys: [String]
        var expected: Expected
    }
    var vectors: [Vector]
}

private let noteVectors = try! JSONDecoder().decode(
    NoteVectors.self, from: Data(contentsOf: noteDirectory.appendingPathComponent("signed_note_vectors.json"))).vectors

@Suite struct SignedNoteVectorTests {
    // Each note opens, or fails to, exactly as the index says (golang.org/x/mod, C2SP, Rekor).
    @Test(arguments: noteVectors.filter { $0.expected.verifies != nil }.map(\.file))
    func opensAsTheIndexSays(file: String) throws {
        let vector = noteVectors.first { $0.file == file }!
        let keys = try vector.verifier_keys.map { try VerifierKey(parsing: $0) }
        let content = [UInt8](try Data(contentsOf: noteDirectory.appendingPathComponent(file)))
        var signers: [String]?
        var text: [UInt8]?
        do {
            let note = try SignedNote(parsing: content)
            signers = try note.open(with: keys).map(\.name)
            text = note.text
        } catch {}
        #expect((signers != nil) == vector.expected.verifies!, "\(file)")
        if let want = vector.expected.verified_signers { #expect(signers == want) }
        if let want = vector.expected.text { #expect(text == bytes(want)) }
    }

    @Test func malformedVerifierKeysAreRejected() throws {
        struct Keys: Decodable {
            struct Bad: Decodable { var vkey: String; var why: String }
            var malformed_vkeys_must_reject: [Bad]
        }
        let keys = try JSONDecoder().decode(Keys.self, from: Data(contentsOf: noteDirectory.appendingPathComponent("keys.json")))
        #expect(keys.malformed_vkeys_must_reject.count == 6)
        for bad in keys.malformed_vkeys_must_reject {
            #expect(throws: NoteError.self, "\(bad.why)") { try VerifierKey(parsing: bad.vkey) }
        }
    }

    /// golang.org/x/mod's PRIVATE+KEY+name+id+base64(0x01 ‖ seed) form, only for this test.
    private func goSigner(_ skey: String) throws -> NoteSigner {
        let parts = skey.split(separator: "+", maxSplits: 4)
        let blob = decodeBase64(parts[4])!
        return try NoteSigner(name: String(parts[2]), privateKey: .ed25519(seed: Array(blob.dropFirst())))
    }

    @Test func reSigningPeterNeumannReproducesTheNoteByteForByte() throws {
        let signer = try goSigner("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
        #expect(signer.verifier.description == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        let want = [UInt8](try Data(contentsOf: noteDirectory.appendingPathComponent("notes/golang-peterneumann.note")))
        let text = bytes("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n")
        let note = text + [0x0A] + (try signer.signatureLine(for: text)) + [0x0A]
        #expect(note == want)
    }

    @Test func ecdsaKeysSignAndVerifyWithC2SPKeyIDs() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let signer = try NoteSigner(name: "example.com/ecdsa", privateKey: key)
        let vkey = try VerifierKey(parsing: signer.verifier.description)
        #expect(vkey == signer.verifier)
        // ECDSA key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 4 bytes.
        #expect(hex(Array(SHA256.hash(vkey.material).prefix(4))) == signer.verifier.description.split(separator: "+")[1].description)
        let text = bytes("example.com/ecdsa\n1\n\(base64(Merkle.emptyRoot))\n")
        let note = try SignedNote(parsing: text + [0x0A] + (try signer.signatureLine(for: text)) + [0x0A])
        #expect(try note.open(with: [vkey]) == [vkey])
        let tampered = try SignedNote(text: bytes("example.com/ecdsa\n2\n\(base64(Merkle.emptyRoot))\n"),
                                      signatureLines: note.signatureLines, firstSignatureLine: 5)
        #expect(throws: SignedNote.OpenError.invalidSignature(vkey)) { try tampered.open(with: [vkey]) }
    }

    @Test func encryptedKeysNeedTheirPassphrase() throws {
        let key = try PrivateKey.generate(.ed25519)
        let pem = try key.pkcs8PEM(passphrase: bytes("correct horse"))
        #expect(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        #expect(throws: KeyFileError.wrongPassphrase) { try PrivateKey.fromPEM(pem, passphrase: bytes("wrong")) }
        #expect(throws: KeyFileError.passphraseNeeded) { try PrivateKey.fromPEM(pem, passphrase: nil) }
        let back = try PrivateKey.fromPEM(pem, passphrase: bytes("correct horse"))
        #expect(try back.publicKey().encoded == (try key.publicKey().encoded))
    }
}

private struct Wycheproof: Decodable {
    struct Group: Decodable {
        struct Key: Decodable { var pk: String? }
        var publicKey: Key
        var publicKeyDer: String
        var tests: [Test]
    }
    struct Test: Decodable { var tcId: Int; var msg: String; var sig: String; var result: String }
    var testGroups: [Group]
}

private func wycheproof(_ name: String) throws -> Wycheproof {
    try JSONDecoder().decode(Wycheproof.self, from: Data(contentsOf: vectorsDirectory.appendingPathComponent(
        "signatures-ed25519-ecdsa/wycheproof/testvectors_v1/\(name)")))
}

private func unhexAny(_ s: String) -> [UInt8] { s.isEmpty ? [] : unhex(s) }

@Suite struct WycheproofTests {
    @Test func ed25519() throws {
        var count = 0
        for group in try wycheproof("ed25519_test.json").testGroups {
            let key = try PublicKey.ed25519(raw: unhex(group.publicKey.pk!))
            for t in group.tests {
                let ok = key.verify(signature: unhexAny(t.sig), message: unhexAny(t.msg))
                #expect(ok == (t.result == "valid"), "tcId \(t.tcId)")
                count += 1
            }
        }
        #expect(count == 150 || count == 151)
    }

    @Test func ecdsaP256P1363() throws {
        var count = 0
        for group in try wycheproof("ecdsa_secp256r1_sha256_p1363_test.json").testGroups {
            let key = try PublicKey.spki(der: unhex(group.publicKeyDer))
            for t in group.tests {
                let ok = key.verifyP1363(signature: unhexAny(t.sig), message: unhexAny(t.msg))
                if t.result == "acceptable" { continue }
                #expect(ok == (t.result == "valid"), "tcId \(t.tcId)")
                count += 1
            }
        }
        #expect(count > 200)
    }

    @Test func rfc8032SigningIsByteExact() throws {
        struct File: Decodable {
            struct Row: Decodable { var secret_key_seed_hex: String; var public_key_hex: String; var message_hex: String; var signature_hex: String }
            var vectors: [Row]
        }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: vectorsDirectory.appendingPathComponent(
            "signatures-ed25519-ecdsa/rfc8032_ed25519_section7_1.json")))
        #expect(file.vectors.count == 5)
        for row in file.vectors {
            let key = try PrivateKey.ed25519(seed: unhex(row.secret_key_seed_hex))
            #expect(hex(try key.publicKey().encoded) == row.public_key_hex)
            #expect(hex(try key.sign(unhexAny(row.message_hex))) == row.signature_hex)
        }
    }
}

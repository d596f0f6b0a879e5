import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

/// A small signed manifest held in memory.
private struct Release {
    let manifest: Manifest
    let signers: [NoteSigner]

    init(entries: [TreeEntry], signers: [NoteSigner]) throws {
        let header = ReleaseHeader(origin: "vendor.example/tiny/1", name: "tiny", version: "1", source: .directory)
        var manifest = try Manifest(header: header, entries: entries)
        for signer in signers { manifest = manifest.adding(signatureLine: try signer.signatureLine(for: manifest.noteText)) }
        self.manifest = manifest
        self.signers = signers
    }
}

private func file(_ path: String, _ content: String) -> TreeEntry {
    TreeEntry(path: bytes(path), kind: .file, size: UInt64(content.utf8.count), digest: SHA256.hash(bytes(content)))
}

/// The DER SubjectPublicKeyInfo of a P-256 key with its point compressed (SEC 1 §2.3.3).
private func compressedSPKI(_ key: PublicKey) throws -> [UInt8] {
    let point = try key.canonicalBytes()   // 0x04 ‖ X ‖ Y
    let prefix: UInt8 = point[64] & 1 == 0 ? 0x02 : 0x03
    let header: [UInt8] = [0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                           0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00]
    return header + [prefix] + Array(point[1...32])
}

@Suite struct SignatureCountingTests {
    /// One ECDSA key under two names, both listed, both "signing": it counts once. (The policy
    /// parser refuses such a list; this checks the counting itself, for policies built in code.)
    @Test func oneKeyUnderTwoNamesCountsOnce() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let first = try NoteSigner(name: "vendor.example/one", privateKey: key)
        let second = try NoteSigner(name: "other.example/two", privateKey: key)
        #expect(first.verifier.keyID == second.verifier.keyID, "ECDSA key IDs do not depend on the name")
        let release = try Release(entries: [file("a", "a\n")], signers: [first, second])
        let policy = TrustPolicy(threshold: 2, keys: [.init(verifier: first.verifier), .init(verifier: second.verifier)])
        let verdict = checkSignatures(text: release.manifest.noteText, signatureLines: release.manifest.signatureLines,
                                      origin: release.manifest.header.origin, policy: policy, day: "2026-11-29")
        #expect(verdict.counted.count == 1)
        #expect(!verdict.met)
        #expect(verdict.findings.map(\.code) == [.sameKeyAgain, .thresholdNotMet])
        let (verified, _, _) = ReleaseVerifier.checkManifest(release.manifest, policy: policy, day: "2026-11-29")
        #expect(verified == nil)
    }

    /// One ECDSA key with an uncompressed and a compressed point is one key.
    @Test func oneKeyInTwoEncodingsIsOneKey() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let plain = try VerifierKey(name: "vendor.example/k", publicKey: key.publicKey())
        let compressed = try VerifierKey(name: "vendor.example/k", publicKey: .spki(der: compressedSPKI(key.publicKey())))
        #expect(plain.material != compressed.material)
        #expect(plain.keyID != compressed.keyID)
        #expect(plain.canonicalKey == compressed.canonicalKey)
        #expect(plain.canonicalKey.count == 65)
        let policyText = "glassbox-trust v1\nthreshold 2\nkey \(plain)\nkey \(compressed)\n"
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: policyText) }
        // Two signature lines by one private key, one per encoding, count once.
        let release = try Release(entries: [file("a", "a\n")], signers: [])
        let text = release.manifest.noteText
        func line(_ verifier: VerifierKey) throws -> [UInt8] {
            let id = verifier.keyID
            let blob = [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)] + (try key.sign(text))
            return Manifest.signaturePrefix + bytes("\(verifier.name) \(base64(blob))")
        }
        let policy = TrustPolicy(threshold: 2, keys: [.init(verifier: plain), .init(verifier: compressed)])
        let verdict = checkSignatures(text: text, signatureLines: [try line(plain), try line(compressed)],
                                      origin: release.manifest.header.origin, policy: policy, day: "2026-11-29")
        #expect(verdict.counted.count == 1)
        #expect(!verdict.met)
    }

    /// Names compare as bytes.
    @Test func canonicallyEquivalentNamesAreDifferentKeys() throws {
        let key = try PrivateKey.generate(.ecdsaP256)
        let nfc = try VerifierKey(name: "vendor.example/caf\u{E9}", publicKey: key.publicKey())
        let nfd = try VerifierKey(name: "vendor.example/cafe\u{301}", publicKey: key.publicKey())
        #expect(nfc.name == nfd.name, "Swift's String equality calls them equal")
        #expect(nfc != nfd)
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: nfc, origins: ["vendor.example/caf\u{E9}/*"])])
        #expect(policy.keys[0].allows(origin: "vendor.example/caf\u{E9}/1"))
        #expect(!policy.keys[0].allows(origin: "vendor.example/cafe\u{301}/1"))
    }

    @Test func daysParseStrictly() {
        for good in ["2026-11-29", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31"] {
            #expect(TrustPolicy.isValidDay(good), "\(good)")
        }
        for bad in ["+999-01-01", "9999-02-31", "2026-+1-01", "2026-1-01", "2100-02-29", "2026-00-10", "2026-13-01",
                    "2026-04-31", "0000-01-01", "2026-11-29 ", "２０２６-11-29", "2026/11/29", ""] {
            #expect(!TrustPolicy.isValidDay(bad), "\(bad)")
        }
    }
}

@Suite struct DisplayTests {
    @Test func controlsBidiAndInvisiblesBecomeVisible() {
        #expect(Display.field("plain text") == "plain text")
        #expect(Display.field("a\rb\u{1B}[2K") == "a⟨U+000D⟩b⟨U+001B⟩[2K")
        #expect(Display.field("line\nbreak") == "line⟨U+000A⟩break")
        #expect(Display.text("line\nbreak\ttab") == "line\nbreak\ttab")
        #expect(Display.field("x\u{202E}y\u{2066}z") == "x⟨U+202E⟩y⟨U+2066⟩z")
        #expect(Display.field("zero\u{200B}width\u{FEFF}") == "zero⟨U+200B⟩width⟨U+FEFF⟩")
        #expect(Display.field("c1\u{9B}31m") == "c1⟨U+009B⟩31m")
        #expect(Display.field("tag\u{E0041}") == "tag⟨U+E0041⟩")
        #expect(Display.field("café 日本 Ελλάδα") == "café 日本 Ελλάδα")
    }
}

@Suite struct ReleaseVerifierTests {
    private func tree(_ entries: [(String, String)]) throws -> URL {
        let dir = try temporaryDirectory("tree")
        for (path, content) in entries {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        return dir
    }

    @Test func verifiesAndFailsWithTypedFindings() throws {
        let signer = try NoteSigner(name: "vendor.example/a", privateKey: .generate(.ed25519))
        let release = try Release(entries: [file("a.txt", "a\n"), file("b/c.txt", "c\n")], signers: [signer])
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: signer.verifier)])
        let good = try tree([("a.txt", "a\n"), ("b/c.txt", "c\n")])
        let outcome = try ReleaseVerifier.verify(manifest: .bytes(release.manifest.render()),
                                                 VerificationRequest(policy: policy, day: "2026-11-29", tree: .directory(good.path)))
        #expect(outcome.verified)
        #expect(outcome.release?.signers == [signer.verifier])
        let bad = try tree([("a.txt", "A\n"), ("extra", "x")])
        let failed = try ReleaseVerifier.verify(manifest: .bytes(release.manifest.render()),
                                                VerificationRequest(policy: policy, day: "2026-11-29", tree: .directory(bad.path)))
        #expect(!failed.verified)
        #expect(failed.release != nil, "the manifest itself was good")
        #expect(failed.findings.filter { $0.severity == .failure }.map(\.code) == [.modified, .missing, .extra])
    }

    /// An untrusted manifest stops before the tree: a tree that does not exist is never touched.
    @Test func anUntrustedManifestNeverReadsTheTree() throws {
        let signer = try NoteSigner(name: "vendor.example/a", privateKey: .generate(.ed25519))
        let stranger = try NoteSigner(name: "vendor.example/b", privateKey: .generate(.ed25519))
        let release = try Release(entries: [file("a.txt", "a\n")], signers: [stranger])
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: signer.verifier)])
        let outcome = try ReleaseVerifier.verify(manifest: .bytes(release.manifest.render()),
                                                 VerificationRequest(policy: policy, day: "2026-11-29", tree: .directory("/nonexistent")))
        #expect(!outcome.verified)
        #expect(outcome.release == nil)
        #expect(outcome.checked.source == nil)
        #expect(outcome.findings.map(\.code) == [.thresholdNotMet, .treeNotRead])
    }
}

/// A combining mark after a '+' or a space makes one Swift Character of the two; every check
/// that keeps them out of names and origins works on bytes, as other implementations do.
@Suite struct CombiningMarkTests {
    @Test func aCombiningMarkCannotHideAPlusOrASpace() throws {
        let key = try PrivateKey.generate(.ed25519)
        #expect(throws: NoteError.self) { try VerifierKey(name: "vendor+\u{301}x", publicKey: key.publicKey()) }
        let good = try VerifierKey(name: "vendor.example/a", publicKey: key.publicKey())
        let text = good.description.replacingOccurrences(of: "vendor.example/a+", with: "vendor.example/a+\u{301}+")
        #expect(throws: NoteError.self) { try VerifierKey(parsing: text) }
        let line = Manifest.signaturePrefix + bytes("vendor+\u{301}x AAAAAAAAAAAAAAAAAAAA")
        #expect(throws: NoteError.self) { try NoteSignature(line: line) }
        let spaced = Manifest.signaturePrefix + bytes("vendor \u{301}x AAAAAAAAAAAAAAAAAAAA")
        #expect(throws: NoteError.self) { try NoteSignature(line: spaced) }
        let header = ReleaseHeader(origin: "example.com/x \u{301}/1", name: "x", version: "1", source: .directory)
        #expect(throws: FormatError.self) { try Manifest(header: header, entries: []) }
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: "glassbox-trust v1\r\nthreshold 1\r\nkey \(good)\r\n") }
    }
}

/// C2SP: a known key's signature is always verified. A second, failing line by a key whose first
/// line verifies is not skipped: the note does not open, and a release fails with bad-signature.
@Suite struct RepeatedSignatureTests {
    @Test func aFailingSecondLineByTheSameKeyRejectsTheNote() throws {
        let signer = try NoteSigner(name: "vendor.example/a", privateKey: .generate(.ed25519))
        let release = try Release(entries: [file("a", "a\n")], signers: [signer])
        let forged = try signer.signatureLine(for: release.manifest.noteText + bytes("x"))   // over other bytes
        let lines = release.manifest.signatureLines + [forged]
        let note = try SignedNote(text: release.manifest.noteText, signatureLines: lines, firstSignatureLine: 0)
        #expect(throws: SignedNote.OpenError.invalidSignature(signer.verifier)) { try note.open(with: [signer.verifier]) }
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: signer.verifier)])
        let verdict = checkSignatures(text: release.manifest.noteText, signatureLines: lines,
                                      origin: release.manifest.header.origin, policy: policy, day: "2026-11-29")
        #expect(verdict.findings.map(\.code) == [.badSignature, .thresholdNotMet])
    }
}

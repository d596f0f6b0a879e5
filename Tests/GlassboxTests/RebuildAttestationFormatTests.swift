import Foundation
import Glassbox
import GlassboxCrypto
import Testing

private let root = [UInt8](repeating: 0xAB, count: 32)
private let toolSHA = [UInt8](repeating: 0x11, count: 32)
private let manualSHA = [UInt8](repeating: 0x22, count: 32)
private let listed = [Artifact(name: bytes("tool"), size: 5, sha256: toolSHA),
                      Artifact(name: bytes("doc/read me.txt"), size: 7, sha256: manualSHA)]

private func attestation(rebuilt: [[UInt8]: [UInt8]]? = nil, origin: String = "vendor.example/tool/1.0",
                         root: [UInt8] = root) throws -> RebuildAttestation {
    try RebuildAttestation.make(origin: origin, root: root, listed: listed, recipePath: bytes("build/recipe"),
                                recipeSHA256: [UInt8](repeating: 0x33, count: 32),
                                environment: [.init(package: "make", version: "4.3-4.1"), .init(package: "gcc", version: "12.2.0-14")],
                                rebuilt: rebuilt ?? [bytes("tool"): toolSHA, bytes("doc/read me.txt"): manualSHA])
}

/// The text of a valid attestation with line `number` (1-based) replaced, or removed when nil.
private func altered(_ number: Int, _ line: String?) throws -> [UInt8] {
    var lines = String(decoding: try attestation().text, as: UTF8.self).split(separator: "\n").map(String.init)
    if let line { lines[number - 1] = line } else { lines.remove(at: number - 1) }
    return bytes(lines.joined(separator: "\n") + "\n")
}

@Suite struct RebuildAttestationFormatTests {
    @Test func theTextIsExactlyWhatFormatDescribes() throws {
        let a = try attestation(rebuilt: [bytes("tool"): [UInt8](repeating: 0x44, count: 32)])
        let h = { (byte: String) in String(repeating: byte, count: 32) }
        #expect(String(decoding: a.text, as: UTF8.self) == """
            glassbox-rebuild v1
            origin vendor.example/tool/1.0
            root q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=
            recipe \(h("33")) build/recipe
            requires gcc 12.2.0-14
            requires make 4.3-4.1
            artifact \(h("22")) missing differs doc/read me.txt
            artifact \(h("11")) \(h("44")) differs tool

            """)
        #expect(!a.allReproduced)
        #expect(try RebuildAttestation(parsing: a.text) == a)
        #expect(try attestation().allReproduced)
    }

    @Test func namesAreEscapedAsInAManifest() throws {
        let odd: [UInt8] = bytes("bin/tab\tand\u{202E}bidi ")
        let a = try RebuildAttestation.make(origin: "o.example/x", root: root, listed: [Artifact(name: odd, size: 1, sha256: toolSHA)],
                                            recipePath: bytes(" recipe"), recipeSHA256: toolSHA, environment: [], rebuilt: [odd: toolSHA])
        let text = String(decoding: a.text, as: UTF8.self)
        #expect(text.hasSuffix(" reproduced bin/tab\\tand\u{202E}bidi\\x20\n"), "\(text)")
        #expect(text.contains(" \\x20recipe\n"))
        let parsed = try RebuildAttestation(parsing: a.text)
        #expect(parsed.artifacts[0].name == odd && parsed.recipePath == bytes(" recipe"))
    }

    @Test(arguments: [
        (1, "glassbox-rebuild v2", 1),
        (2, "origin vendor example", 2),
        (3, "root q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s", 3),
        (4, "recipe \(String(repeating: "3a", count: 32).uppercased()) build/recipe", 4),
        (5, "requires gcc  12.2.0-14", 5),
        (5, "requires gcc 12.2.0 14", 5),
        (5, "requires make 4.3-4.1", 6),
        (6, "requires gcc 12.2.0-14", 6),
        (7, "artifact \(String(repeating: "22", count: 32)) \(String(repeating: "22", count: 32)) differs doc/read me.txt", 7),
        (7, "artifact \(String(repeating: "22", count: 32)) missing reproduced doc/read me.txt", 7),
        (7, "artifact \(String(repeating: "22", count: 32)) \(String(repeating: "22", count: 32)) reproduced ../escape", 7),
        (7, "artifact \(String(repeating: "22", count: 32)) \(String(repeating: "22", count: 32)) reproduced doc/read\\x41me", 7),
        (8, "artifact \(String(repeating: "11", count: 32)) \(String(repeating: "11", count: 32)) reproduced doc", 8),
        (8, "origin vendor.example/tool/1.0", 8),
    ])
    func aLineOutOfShapeOrPlaceIsRefusedNamingIt(line: Int, text: String, reported: Int) throws {
        let error = try #require(throws: FormatError.self) { try RebuildAttestation(parsing: try altered(line, text)) }
        #expect(error.line == reported, "\(error)")
    }

    @Test func missingLinesControlsAndTrailingLinesAreRefused() throws {
        // No artifacts: an attestation states at least one.
        var lines = String(decoding: try attestation().text, as: UTF8.self).split(separator: "\n").map(String.init)
        lines.removeLast(2)
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: bytes(lines.joined(separator: "\n") + "\n")) }
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: try altered(4, nil)) }
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: try attestation().text + bytes("extra line\n")) }
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: try attestation().text + bytes("\n")) }
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: Array(try attestation().text.dropLast())) }
        #expect(throws: FormatError.self) { try RebuildAttestation(parsing: try altered(5, "requires gcc 12.2.0-14\r")) }
        // make refuses what the parser would: a version with a space, an empty listing.
        #expect(throws: FormatError.self) {
            try RebuildAttestation.make(origin: "o.example/x", root: root, listed: listed, recipePath: bytes("r"), recipeSHA256: toolSHA,
                                        environment: [.init(package: "gcc", version: "12 2")], rebuilt: [:])
        }
        #expect(throws: FormatError.self) {
            try RebuildAttestation.make(origin: "o.example/x", root: root, listed: [], recipePath: bytes("r"), recipeSHA256: toolSHA,
                                        environment: [], rebuilt: [:])
        }
    }

    @Test func theSignedNoteOpensWithTheRebuildersKey() throws {
        let signer = try NoteSigner(name: "rebuild.example/r1", privateKey: .generate(.ed25519))
        let other = try NoteSigner(name: "rebuild.example/r2", privateKey: .generate(.ecdsaP256))
        let note = try attestation().signedNote(signers: [signer, other])
        let input = try AttestationInput(parsing: note.bytes, source: "a")
        #expect(input.attestation == (try attestation()))
        #expect(try input.note.open(with: [signer.verifier, other.verifier]) == [signer.verifier, other.verifier])
    }
}

@Suite struct RebuildPolicyTests {
    private func vkey(_ name: String) throws -> String {
        try NoteSigner(name: name, privateKey: .generate(.ed25519)).verifier.description
    }

    @Test func rebuildersAndTheirThresholdParseAndRenderBack() throws {
        let text = "glassbox-trust v1\nthreshold 1\nkey \(try vkey("v.example/a"))\nrebuild-threshold 2\n"
            + "rebuilder \(try vkey("r.example/1")) origins=vendor.example/*\nrebuilder \(try vkey("r.example/2")) not-after=2030-01-01\n"
        let policy = try TrustPolicy(parsing: text)
        #expect(policy.rebuildThreshold == 2)
        #expect(policy.rebuilders.count == 2 && policy.rebuilders[0].origins == ["vendor.example/*"])
        #expect(try TrustPolicy(parsing: policy.render()) == policy)
        // Without the lines, no rebuild is required.
        let plain = try TrustPolicy(parsing: "glassbox-trust v1\nthreshold 1\nkey \(try vkey("v.example/a"))\n")
        #expect(plain.rebuildThreshold == 0 && plain.rebuilders.isEmpty)
    }

    @Test func aThresholdAboveTheRebuildersOrOneKeyListedTwiceIsRefused() throws {
        let key = try vkey("r.example/1")
        let head = "glassbox-trust v1\nthreshold 1\nkey \(try vkey("v.example/a"))\n"
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: head + "rebuild-threshold 2\nrebuilder \(key)\n") }
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: head + "rebuilder \(key)\nrebuilder \(key)\n") }
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: head + "rebuild-threshold 1\nrebuild-threshold 1\nrebuilder \(key)\n") }
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: head + "rebuild-threshold -1\n") }
        #expect(throws: FormatError.self) { try TrustPolicy(parsing: head + "rebuilder \(key) colour=blue\n") }
    }
}

/// `checkRebuilds` against a release verified in memory.
@Suite struct RebuildCheckTests {
    let vendor = try! NoteSigner(name: "vendor.example/a", privateKey: .generate(.ed25519))
    let r1 = try! NoteSigner(name: "rebuild.example/r1", privateKey: .generate(.ed25519))
    let r2 = try! NoteSigner(name: "rebuild.example/r2", privateKey: .generate(.ecdsaP256))

    private func release() throws -> (Manifest, VerifiedRelease, TrustPolicy) {
        var manifest = try Manifest(header: ReleaseHeader(origin: "vendor.example/tool/1.0", name: "tool", version: "1.0",
                                                          source: .directory, artifacts: listed), entries: [])
        manifest = manifest.adding(signatureLine: try vendor.signatureLine(for: manifest.noteText))
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: vendor.verifier)], rebuildThreshold: 2,
                                 rebuilders: [.init(verifier: r1.verifier), .init(verifier: r2.verifier, origins: ["other.example/*"])])
        let verified = try #require(ReleaseVerifier.checkManifest(manifest, policy: policy, day: "2026-01-01").release)
        return (manifest, verified, policy)
    }

    private func input(_ a: RebuildAttestation, _ signers: [NoteSigner], _ name: String = "a") throws -> AttestationInput {
        try AttestationInput(parsing: try a.signedNote(signers: signers).bytes, source: name)
    }

    @Test func aRebuilderOutsideItsOriginsDoesNotCount() throws {
        let (manifest, verified, trusted) = try release()
        var policy = trusted
        let a = try RebuildAttestation.make(manifest: manifest, recipePath: bytes("r"), recipeSHA256: toolSHA, environment: [],
                                            rebuilt: [bytes("tool"): toolSHA, bytes("doc/read me.txt"): manualSHA])
        let verdict = checkRebuilds([try input(a, [r1, r2])], release: verified, policy: policy, day: "2026-01-01")
        #expect(verdict.counted == [r1.verifier])
        #expect(verdict.findings.map(\.code) == [.keyNotAllowedForOrigin, .rebuildThresholdNotMet])
        policy.rebuilders[1].origins = []
        let both = checkRebuilds([try input(a, [r1, r2])], release: verified, policy: policy, day: "2026-01-01")
        #expect(both.counted == [r1.verifier, r2.verifier] && both.findings.isEmpty && both.met)
    }

    @Test func aFailingSignatureByATrustedRebuilderRejectsTheWholeAttestation() throws {
        let (manifest, verified, policy) = try release()
        let a = try RebuildAttestation.make(manifest: manifest, recipePath: bytes("r"), recipeSHA256: toolSHA, environment: [],
                                            rebuilt: [bytes("tool"): toolSHA, bytes("doc/read me.txt"): manualSHA])
        // r1's line is good; r2's signs other bytes.
        let lines = [try r1.signatureLine(for: a.text), try r2.signatureLine(for: a.text + bytes("x\n"))]
        let note = try SignedNote(text: a.text, signatureLines: lines, firstSignatureLine: 0)
        let verdict = checkRebuilds([try AttestationInput(parsing: note.bytes, source: "f")], release: verified, policy: policy, day: "2026-01-01")
        #expect(verdict.counted.isEmpty)
        #expect(verdict.findings.map(\.code) == [.badSignature, .rebuildThresholdNotMet])
        // A rebuilder outside its origins alone is named for that, not called untrusted.
        let alone = checkRebuilds([try input(a, [r2])], release: verified, policy: policy, day: "2026-01-01")
        #expect(alone.findings.map(\.code) == [.keyNotAllowedForOrigin, .rebuildThresholdNotMet])
    }

    @Test func anAttestationNotCoveringTheSignedArtifactsDoesNotCount() throws {
        let (_, verified, policy) = try release()
        // Same origin and root, but a manifest that signs other bytes for `tool`.
        let other = [Artifact(name: bytes("tool"), size: 5, sha256: manualSHA), listed[1]]
        let a = try RebuildAttestation.make(origin: verified.header.origin, root: verified.root, listed: other, recipePath: bytes("r"),
                                            recipeSHA256: toolSHA, environment: [], rebuilt: [bytes("tool"): manualSHA, bytes("doc/read me.txt"): manualSHA])
        let verdict = checkRebuilds([try input(a, [r1])], release: verified, policy: policy, day: "2026-01-01")
        #expect(verdict.counted.isEmpty)
        #expect(verdict.findings.map(\.code) == [.rebuildIncomplete, .rebuildThresholdNotMet])
        #expect(verdict.findings[0].message.contains("attests 1 of the 2 artifacts the manifest lists, as signed; not listed with that SHA-256: tool"))
    }
}

import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

private let dsseDirectory = vectorsDirectory.appendingPathComponent("dsse-intoto")

private struct SpecVectors: Decodable {
    struct Spec: Decodable {
        struct Key: Decodable { var spki_der_b64: String }
        var payloadType: String
        var payload_utf8: String
        var pae_hex: String
        var key: Key
        var signature_raw_rs_b64: String
        var signature_der_b64: String
    }
    struct PAE: Decodable {
        struct Vector: Decodable { var payloadType: String; var payload_hex: String; var want_utf8: String }
        var vectors: [Vector]
    }
    var dsse_spec_vector: Spec
    var pae_vectors: PAE
}

private struct RealEnvelopes: Decodable {
    struct Item: Decodable {
        struct Envelope: Decodable {
            struct Signature: Decodable { var sig: String }
            var payload: String
            var payloadType: String
            var signatures: [Signature]
        }
        var name: String
        var envelope: Envelope
        var signer_spki_pem: String
        var pae_sha256_hex: String
        var expected_signature_valid: Bool
    }
    var envelopes: [Item]
}

private func decode<T: Decodable>(_ type: T.Type, _ file: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(contentsOf: dsseDirectory.appendingPathComponent(file)))
}

private func unbase64(_ text: String) -> [UInt8] { Array(Data(base64Encoded: text)!) }

/// The rules the in-toto reference Go bindings' `Validate()` applies (in-toto/attestation
/// go/v1 statement.go and resource_descriptor.go, as the vectors exercise them): checked first
/// against the vectors, then used on the statement Glassbox writes.
private func inTotoProblems(_ json: Any) -> [String] {
    guard let statement = json as? [String: Any] else { return ["not an object"] }
    var problems: [String] = []
    if !["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"].contains(statement["_type"] as? String ?? "") {
        problems.append("_type")
    }
    let subjects = statement["subject"] as? [[String: Any]] ?? []
    if subjects.isEmpty { problems.append("no subject") }
    for subject in subjects {
        problems += descriptorProblems(subject)
        if (subject["digest"] as? [String: String] ?? [:]).isEmpty { problems.append("subject without digest") }
    }
    if (statement["predicateType"] as? String ?? "").isEmpty { problems.append("predicateType") }
    if statement["predicate"] == nil { problems.append("predicate") }
    return problems
}

private func descriptorProblems(_ descriptor: [String: Any]) -> [String] {
    if descriptor["name"] == nil && descriptor["uri"] == nil && descriptor["digest"] == nil { return ["none of name, uri, digest"] }
    var problems: [String] = []
    let lengths = ["sha256": [64], "sha1": [40], "gitCommit": [40, 64], "gitTree": [40, 64], "gitTag": [40, 64]]
    for (algorithm, value) in descriptor["digest"] as? [String: String] ?? [:] {
        guard let allowed = lengths[algorithm] else { continue }
        if !value.allSatisfy(\.isHexDigit) { problems.append("\(algorithm) not hex") }
        if !allowed.contains(value.count) { problems.append("\(algorithm) length") }
    }
    return problems
}

/// A manifest of a git release with two artifacts, built in memory.
private func sampleManifest() throws -> Manifest {
    let header = ReleaseHeader(
        origin: "vendor.example/plain/2.0.0", name: "plain", version: "2.0.0",
        source: .git(commit: String(repeating: "a", count: 40), tree: String(repeating: "b", count: 40),
                     tagName: Array("v2.0.0".utf8), tagObject: String(repeating: "c", count: 40)),
        artifacts: [Artifact(name: Array("plain-linux-amd64".utf8), size: 4, sha256: SHA256.hash(Array("bin\n".utf8))),
                    Artifact(name: Array("plain-2.0.0.tar.gz".utf8), size: 4, sha256: SHA256.hash(Array("tgz\n".utf8)))])
    let entries = [TreeEntry(path: Array("README".utf8), kind: .file, size: 6, digest: SHA256.hash(Array("hello\n".utf8)))]
    return try Manifest(header: header, entries: entries)
}

@Suite struct InTotoTests {
    /// PAE byte for byte, from go-securesystemslib's TestPAE and the DSSE spec vector. By hand:
    /// `printf 'DSSEv1 29 http://example.com/HelloWorld 11 hello world' | xxd -p`.
    @Test func paeMatchesTheVectors() throws {
        let vectors = try decode(SpecVectors.self, "dsse_spec_and_pae_vectors.json")
        #expect(vectors.pae_vectors.vectors.count == 3)
        for vector in vectors.pae_vectors.vectors {
            let payload = vector.payload_hex.isEmpty ? [] : unhex(vector.payload_hex)
            #expect(DSSE.pae(payloadType: Array(vector.payloadType.utf8), payload: payload) == Array(vector.want_utf8.utf8))
        }
        let spec = vectors.dsse_spec_vector
        #expect(DSSE.pae(payloadType: Array(spec.payloadType.utf8), payload: Array(spec.payload_utf8.utf8)) == unhex(spec.pae_hex))
    }

    /// The DSSE spec's signature (ECDSA P-256, given as r‖s and re-encoded as DER) verifies over
    /// the PAE computed here, and not over the bare payload.
    @Test func theSpecSignatureVerifiesOverPAE() throws {
        let spec = try decode(SpecVectors.self, "dsse_spec_and_pae_vectors.json").dsse_spec_vector
        let key = try PublicKey.spki(der: unbase64(spec.key.spki_der_b64))
        let pae = DSSE.pae(payloadType: Array(spec.payloadType.utf8), payload: Array(spec.payload_utf8.utf8))
        #expect(key.verifyP1363(signature: unbase64(spec.signature_raw_rs_b64), message: pae))
        #expect(key.verify(signature: unbase64(spec.signature_der_b64), message: pae))
        #expect(!key.verify(signature: unbase64(spec.signature_der_b64), message: Array(spec.payload_utf8.utf8)))
    }

    /// Real sigstore envelopes: the PAE rebuilt here has the digest the vectors give, and the
    /// DER signatures verify exactly when the vectors say they do.
    @Test func realSigstoreEnvelopesVerifyAsExpected() throws {
        let items = try decode(RealEnvelopes.self, "dsse_real_sigstore_envelopes.json").envelopes
        #expect(items.count == 4)
        for item in items {
            let pae = DSSE.pae(payloadType: Array(item.envelope.payloadType.utf8), payload: unbase64(item.envelope.payload))
            #expect(hex(SHA256.hash(pae)) == item.pae_sha256_hex, "\(item.name)")
            let der = item.signer_spki_pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            let key = try PublicKey.spki(der: unbase64(der))
            #expect(key.verify(signature: unbase64(item.envelope.signatures[0].sig), message: pae) == item.expected_signature_valid, "\(item.name)")
        }
    }

    /// The validator above agrees with the reference bindings on every vector, so its verdict on
    /// Glassbox's statement means something.
    @Test func theValidatorAgreesWithTheReferenceVectors() throws {
        struct Vectors: Decodable {
            struct Vector: Decodable { var json: String; var valid: Bool; var desc: String }
            var statement_vectors: [Vector]
            var resource_descriptor_vectors: [Vector]
        }
        let vectors = try decode(Vectors.self, "intoto_statement_vectors.json")
        for vector in vectors.statement_vectors {
            let json = try JSONSerialization.jsonObject(with: Data(vector.json.utf8))
            #expect(inTotoProblems(json).isEmpty == vector.valid, "\(vector.desc)")
        }
        for vector in vectors.resource_descriptor_vectors {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(vector.json.utf8)) as? [String: Any])
            #expect(descriptorProblems(json).isEmpty == vector.valid, "\(vector.desc)")
        }
    }

    @Test func theStatementSaysWhatTheManifestSaysAndNothingElse() throws {
        let manifest = try sampleManifest()
        let bytes = try InTotoRelease.statement(for: manifest, sourceURI: "git+https://vendor.example/plain.git@refs/tags/v2.0.0")
        #expect(try InTotoRelease.statement(for: manifest, sourceURI: "git+https://vendor.example/plain.git@refs/tags/v2.0.0") == bytes,
                "the same manifest gives the same bytes")
        let json = try JSONSerialization.jsonObject(with: Data(bytes))
        #expect(inTotoProblems(json).isEmpty, "\(inTotoProblems(json))")
        let statement = try #require(json as? [String: Any])
        #expect(statement["predicateType"] as? String == "https://slsa.dev/provenance/v1")
        let subjects = try #require(statement["subject"] as? [[String: Any]])
        #expect(subjects.map { $0["name"] as? String } == ["plain-2.0.0.tar.gz", "plain-linux-amd64"])
        #expect(subjects.map { ($0["digest"] as? [String: String])?["sha256"] }
                == [hex(SHA256.hash(Array("tgz\n".utf8))), hex(SHA256.hash(Array("bin\n".utf8)))])
        let predicate = try #require(statement["predicate"] as? [String: Any])
        let definition = try #require(predicate["buildDefinition"] as? [String: Any])
        let source = try #require((definition["resolvedDependencies"] as? [[String: Any]])?.first)
        #expect(descriptorProblems(source).isEmpty)
        #expect(source["uri"] as? String == "git+https://vendor.example/plain.git@refs/tags/v2.0.0")
        #expect(source["digest"] as? [String: String] == ["gitCommit": String(repeating: "a", count: 40),
                                                          "gitTree": String(repeating: "b", count: 40),
                                                          "gitTag": String(repeating: "c", count: 40),
                                                          "glassboxManifestRoot": hex(manifest.root)])
        #expect(definition["externalParameters"] as? [String: String]
                == ["origin": "vendor.example/plain/2.0.0", "name": "plain", "version": "2.0.0", "source": "git", "tag": "v2.0.0"])
    }

    @Test func aManifestWithoutArtifactsHasNoSubject() throws {
        let header = ReleaseHeader(origin: "vendor.example/x/1", name: "x", version: "1", source: .directory)
        let manifest = try Manifest(header: header, entries: [])
        #expect(throws: FormatError.self) { try InTotoRelease.statement(for: manifest, sourceURI: nil) }
    }

    /// A name that is not UTF-8 once went out escaped, and its escaped form can be another
    /// artifact's real name: two subjects with one name and two digests. Refused, whether or not
    /// the other name is there.
    @Test func aNameThatIsNotUTF8IsRefusedNotEscaped() throws {
        let raw: [UInt8] = Array("tool-".utf8) + [0xFF] + Array(".bin".utf8)
        let escaped = Array(Escaping.escape(raw).utf8)
        #expect(escaped != raw && String(validating: escaped, as: UTF8.self) != nil, "the escaped form is itself a valid name")
        func manifest(_ names: [[UInt8]]) throws -> Manifest {
            let artifacts = names.sorted { $0.lexicographicallyPrecedes($1) }.enumerated().map { index, name in
                Artifact(name: name, size: 1, sha256: SHA256.hash([UInt8(index)]))
            }
            let header = ReleaseHeader(origin: "vendor.example/x/1", name: "x", version: "1", source: .directory, artifacts: artifacts)
            return try Manifest(header: header, entries: [])
        }
        for names in [[raw, escaped], [raw]] {
            let error = #expect(throws: FormatError.self) { try InTotoRelease.statement(for: try manifest(names), sourceURI: nil) }
            #expect(error?.message.contains("is not UTF-8") == true, "\(String(describing: error))")
        }
        // The escaped-looking name on its own is a real UTF-8 name and goes out exactly.
        let bytes = try InTotoRelease.statement(for: try manifest([escaped]), sourceURI: nil)
        let statement = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let subjects = try #require(statement["subject"] as? [[String: Any]])
        #expect(subjects.map { $0["name"] as? String } == [String(decoding: escaped, as: UTF8.self)])
    }

    /// An envelope signed here verifies over PAE with the signer's public key, for both
    /// algorithms; the keyid is the C2SP name and key ID.
    @Test func envelopesVerifyOverPAE() throws {
        for algorithm in SignatureAlgorithm.allCases {
            let key = try PrivateKey.generate(algorithm)
            let signer = try NoteSigner(name: "vendor.example/k", privateKey: key)
            let payload = Array("{\"a\":1}".utf8)
            let envelope = try DSSE.sign(payload: payload, payloadType: InTotoRelease.payloadType, with: signer)
            #expect(envelope.payloadType == "application/vnd.in-toto+json")
            #expect(envelope.signatures[0].keyid == signer.verifier.description.split(separator: "+")[0...1].joined(separator: "+"))
            let pae = DSSE.pae(payloadType: Array(envelope.payloadType.utf8), payload: unbase64(envelope.payload))
            #expect(try key.publicKey().verify(signature: unbase64(envelope.signatures[0].sig), message: pae))
            #expect(!(try key.publicKey().verify(signature: unbase64(envelope.signatures[0].sig), message: payload)))
        }
    }
}

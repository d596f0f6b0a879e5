import Foundation
import GlassboxGit

/// DSSE, the Dead Simple Signing Envelope (secure-systems-lab/dsse, protocol v1.0.0): what
/// in-toto attestations are signed in. A signature covers the pre-authentication encoding of
/// the payload and its type, never the payload alone, so a payload cannot be passed off as
/// one of another type.
public enum DSSE {
    /// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, with LEN the
    /// byte length in ASCII decimal (DSSE protocol.md, "Signature definition").
    public static func pae(payloadType: [UInt8], payload: [UInt8]) -> [UInt8] {
        Array("DSSEv1 \(payloadType.count) ".utf8) + payloadType + Array(" \(payload.count) ".utf8) + payload
    }

    /// A signed envelope: the payload and its type, and one signature.
    public struct Envelope: Encodable, Sendable {
        public struct Signature: Encodable, Sendable {
            /// Which key signed: a hint for finding the key, never trusted by itself.
            public var keyid: String
            /// Base64 of the signature over PAE: Ed25519's 64 bytes, or ECDSA P-256 over
            /// SHA-256 as ASN.1 DER (as sigstore and securesystemslib write it).
            public var sig: String
        }
        /// Base64 (standard, padded) of the payload bytes.
        public var payload: String
        public var payloadType: String
        public var signatures: [Signature]

        /// The envelope as one line of JSON with sorted keys and LF: the `.intoto.jsonl` form.
        public func json() throws -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return [UInt8](try encoder.encode(self)) + [0x0A]
        }
    }

    /// Signs `payload` of `payloadType` with `signer`'s key. The keyid is the signer's C2SP key
    /// name and key ID, `NAME+KEYID`, the first two parts of its verifier key (.pub).
    /// - Throws: `CryptoError` from OpenSSL.
    public static func sign(payload: [UInt8], payloadType: String, with signer: NoteSigner) throws -> Envelope {
        let signature = try signer.privateKey.sign(pae(payloadType: Array(payloadType.utf8), payload: payload))
        let keyid = String(signer.verifier.description.split(separator: "+")[0...1].joined(separator: "+"))
        return Envelope(payload: base64(payload), payloadType: payloadType,
                        signatures: [.init(keyid: keyid, sig: base64(signature))])
    }
}

/// An in-toto Statement v1 (in-toto/attestation spec/v1) about a release: its subjects are the
/// artifacts the manifest lists, its predicate SLSA Provenance v1 naming the source the
/// manifest covers. It says what the manifest's signer says, in the form supply-chain tools
/// read; it adds no fact the manifest does not hold, and no time.
public enum InTotoRelease {
    public static let payloadType = "application/vnd.in-toto+json"
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://slsa.dev/provenance/v1"
    /// What `buildType` says: the build is described by a Glassbox release manifest. A URN,
    /// not an address: the tool has no public page, and these names are defined in FORMAT.md.
    public static let buildType = "urn:glassbox:in-toto:release-manifest:v1"
    /// What `runDetails.builder.id` says: the statement is the release signer's word, as the
    /// manifest is; no build was watched.
    public static let builderID = "urn:glassbox:in-toto:release-signer:v1"
    /// The DigestSet key of the manifest's Merkle root, in lowercase hex.
    public static let rootDigestName = "glassboxManifestRoot"

    struct ResourceDescriptor: Encodable {
        var name: String?
        var uri: String?
        var digest: [String: String]
        var annotations: [String: String]?
    }

    struct Statement: Encodable {
        var type = InTotoRelease.statementType
        var subject: [ResourceDescriptor]
        var predicateType = InTotoRelease.predicateType
        var predicate: Provenance

        enum CodingKeys: String, CodingKey {
            case type = "_type", subject, predicateType, predicate
        }
    }

    struct Provenance: Encodable {
        struct BuildDefinition: Encodable {
            var buildType = InTotoRelease.buildType
            var externalParameters: [String: String]
            var resolvedDependencies: [ResourceDescriptor]
        }
        struct RunDetails: Encodable {
            struct Builder: Encodable { var id: String }
            var builder: Builder
        }
        var buildDefinition: BuildDefinition
        var runDetails: RunDetails
    }

    /// The statement for `manifest`, as compact JSON with sorted keys: the same manifest gives
    /// the same bytes. Each subject's name is the artifact's name exactly, as UTF-8 text.
    /// - Parameter sourceURI: where the source can be fetched, e.g.
    ///   `git+https://example.com/curl.git@refs/tags/v8.21.0`; the manifest does not record one.
    /// - Throws: `FormatError` when the manifest lists no artifact (a statement has at least
    ///   one subject), or an artifact whose name is not UTF-8: a subject name is a JSON string,
    ///   and any stand-in for those bytes (the escaped form) could be another artifact's real
    ///   name, one name with two digests.
    public static func statement(for manifest: Manifest, sourceURI: String?) throws -> [UInt8] {
        let header = manifest.header
        guard !header.artifacts.isEmpty else {
            throw FormatError(line: nil, "the manifest lists no artifacts, and an in-toto statement needs at least one subject")
        }
        var subjects: [ResourceDescriptor] = []
        var names = Set<[UInt8]>()
        for artifact in header.artifacts {
            guard let name = String(validating: artifact.name, as: UTF8.self) else {
                throw FormatError(line: nil, "the artifact name '\(Escaping.escape(artifact.name))' is not UTF-8; an in-toto subject name "
                                  + "is text, and no stand-in for those bytes is safe from naming another artifact")
            }
            // The manifest lists each name once; kept here so no subject can ever have two digests.
            guard names.insert(Array(name.utf8)).inserted else {
                throw FormatError(line: nil, "the artifact name '\(Escaping.escape(artifact.name))' is listed twice")
            }
            subjects.append(ResourceDescriptor(name: name, digest: ["sha256": hex(artifact.sha256)]))
        }
        var digest = [rootDigestName: hex(manifest.root)]
        var parameters = ["origin": header.origin, "name": header.name, "version": header.version]
        switch header.source {
        case let .git(commit, tree, tagName, tagObject):
            digest["gitCommit"] = commit
            digest["gitTree"] = tree
            if let tagObject { digest["gitTag"] = tagObject }
            if let tagName { parameters["tag"] = Escaping.escape(tagName) }
            parameters["source"] = header.gitArchive ? "git-archive" : "git"
        case .directory:
            parameters["source"] = "directory"
        }
        if let recipe = header.recipe { parameters["recipe"] = Escaping.escape(recipe) }
        let source = ResourceDescriptor(name: header.origin, uri: sourceURI, digest: digest,
                                        annotations: ["entries": String(manifest.count)])
        let statement = Statement(subject: subjects, predicate: Provenance(
            buildDefinition: .init(externalParameters: parameters, resolvedDependencies: [source]),
            runDetails: .init(builder: .init(id: builderID))))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try encoder.encode(statement))
    }
}

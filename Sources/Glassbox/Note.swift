import GlassboxCrypto

/// A C2SP signed-note verifier key: `name+hex(keyID)+base64(type ‖ public key)`.
public struct VerifierKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let keyID: UInt32
    public let algorithm: SignatureAlgorithm
    /// The public key material after the type byte.
    public let material: [UInt8]
    let publicKey: PublicKey
    /// The key itself, however it was encoded (see `PublicKey.canonicalBytes`): two entries
    /// with equal `canonicalKey` are one signer, whatever their names or encodings.
    public let canonicalKey: [UInt8]

    /// The vkey string.
    public var description: String {
        "\(name)+\(hexID(keyID))+\(base64([algorithm.typeByte] + material))"
    }

    // Names compare as bytes: Swift's String equality would call canonically equivalent
    // spellings ("café" in NFC and NFD) equal, and a trust decision must not.
    public static func == (a: VerifierKey, b: VerifierKey) -> Bool {
        a.name.utf8.elementsEqual(b.name.utf8) && a.keyID == b.keyID && a.algorithm == b.algorithm && a.material == b.material
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(name.utf8))
        hasher.combine(keyID)
    }

    /// Whether a signature line's name and key ID select this key (names as bytes).
    func matches(_ signature: NoteSignature) -> Bool {
        keyID == signature.keyID && name.utf8.elementsEqual(signature.name.utf8)
    }

    /// The verifier key for `publicKey` under `name`, with the key ID C2SP recommends.
    /// - Throws: `NoteError.badKey` for a name that cannot be a key name.
    public init(name: String, publicKey: PublicKey) throws {
        try checkKeyName(name)
        self.name = name
        self.algorithm = publicKey.algorithm
        self.material = publicKey.encoded
        self.publicKey = publicKey
        self.canonicalKey = try publicKey.canonicalBytes()
        self.keyID = VerifierKey.keyID(name: name, algorithm: publicKey.algorithm, material: publicKey.encoded)
    }

    /// Parses a vkey string.
    /// - Throws: `NoteError.badKey` for too few parts, bad hex or base64, an unknown or
    ///   unsupported type, key material of the wrong shape, or a key ID that does not match.
    public init(parsing text: String) throws {
        // Split on bytes (see `NoteSignature`): a '+' with a combining mark after it is still a '+'.
        let parts = text.utf8.split(separator: UInt8(ascii: "+"), maxSplits: 2, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3 else { throw NoteError.badKey("'\(text)' is not NAME+KEYID+KEY") }
        try checkKeyName(String(parts[0]))
        guard parts[1].utf8.count == 8, let id = decodeHex(Array(parts[1].utf8), count: 4) else {
            throw NoteError.badKey("the key ID '\(parts[1])' is not 8 lowercase hex digits")
        }
        guard let blob = decodeBase64(parts[2]), let type = blob.first else {
            throw NoteError.badKey("the key '\(parts[2])' is not base64")
        }
        let material = Array(blob.dropFirst())
        let key: PublicKey
        do {
            switch type {
            case 0x01: key = try .ed25519(raw: material)
            case 0x02: key = try .spki(der: material)
            default: throw NoteError.badKey("signature type 0x\(String(type, radix: 16)) is not supported (0x01 Ed25519, 0x02 ECDSA P-256)")
            }
        } catch let error as CryptoError {
            throw NoteError.badKey("the public key is malformed: \(error.message)")
        }
        let wanted = VerifierKey.keyID(name: String(parts[0]), algorithm: key.algorithm, material: material)
        let given = id.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard wanted == given else {
            throw NoteError.badKey("the key ID \(parts[1]) does not match the key, which has ID \(hexID(wanted))")
        }
        self.name = String(parts[0])
        self.keyID = given
        self.algorithm = key.algorithm
        self.material = material
        self.publicKey = key
        do { self.canonicalKey = try key.canonicalBytes() } catch let error as CryptoError {
            throw NoteError.badKey("the public key is malformed: \(error.message)")
        }
    }

    /// Ed25519: SHA-256(name ‖ LF ‖ 0x01 ‖ key)[:4]; ECDSA: SHA-256(DER SPKI)[:4] (C2SP signed-note).
    static func keyID(name: String, algorithm: SignatureAlgorithm, material: [UInt8]) -> UInt32 {
        let digest = switch algorithm {
        case .ed25519: SHA256.hash(Array(name.utf8) + [0x0A, 0x01] + material)
        case .ecdsaP256: SHA256.hash(material)
        }
        return digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// Whether `signature` (without the key ID) signs `text` under this key.
    public func verify(signature: [UInt8], text: [UInt8]) -> Bool {
        publicKey.verify(signature: signature, message: text)
    }
}

extension SignatureAlgorithm {
    /// The C2SP signed-note signature type byte.
    public var typeByte: UInt8 { self == .ed25519 ? 0x01 : 0x02 }
}

func hexID(_ id: UInt32) -> String {
    hex([UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)])
}

private func checkKeyName(_ name: String) throws {
    guard !name.isEmpty, !name.utf8.contains(UInt8(ascii: "+")),
          !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || isControl($0) }) else {
        throw NoteError.badKey("the key name '\(name)' is empty or contains '+', a space or a control character")
    }
}

/// Bad note, key or signature input.
public enum NoteError: Error, Equatable, CustomStringConvertible, Sendable {
    case badKey(String)
    case malformed(line: Int?, String)

    public var description: String {
        switch self {
        case let .badKey(message): "bad verifier key: \(message)"
        case let .malformed(line, message): line.map { "line \($0): \(message)" } ?? message
        }
    }
}

/// A key that signs notes: a private key and its key name.
public struct NoteSigner: Sendable {
    public let verifier: VerifierKey
    let privateKey: PrivateKey

    /// - Throws: `NoteError.badKey` for an unusable name, `CryptoError` from OpenSSL.
    public init(name: String, privateKey: PrivateKey) throws {
        self.privateKey = privateKey
        self.verifier = try VerifierKey(name: name, publicKey: privateKey.publicKey())
    }

    /// The signature line (without LF) over `text`, the exact note text bytes.
    public func signatureLine(for text: [UInt8]) throws -> [UInt8] {
        let signature = try privateKey.sign(text)
        let id = verifier.keyID
        let blob = [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)] + signature
        return Manifest.signaturePrefix + Array("\(verifier.name) \(base64(blob))".utf8)
    }
}

/// One parsed signature line: `— NAME base64(keyID ‖ signature)`.
public struct NoteSignature: Sendable, Equatable {
    public let name: String
    public let keyID: UInt32
    public let signature: [UInt8]

    /// Parses a signature line without its LF.
    /// - Throws: `NoteError.malformed` unless it has the exact shape.
    public init(line: [UInt8], lineNumber: Int? = nil) throws {
        guard line.starts(with: Manifest.signaturePrefix) else {
            throw NoteError.malformed(line: lineNumber, "a signature line starts with '— '")
        }
        // Split on bytes, as C2SP and other implementations do: a Swift String would treat a
        // space or '+' followed by a combining mark as a different character.
        let parts = line.dropFirst(Manifest.signaturePrefix.count).split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains(UInt8(ascii: "+")),
              let signer = String(validating: parts[0], as: UTF8.self),
              !signer.unicodeScalars.contains(where: isControl) else {
            throw NoteError.malformed(line: lineNumber, "expected '— NAME SIGNATURE'")
        }
        guard let blob = decodeBase64(String(decoding: parts[1], as: UTF8.self)), blob.count > 4 else {
            throw NoteError.malformed(line: lineNumber, "the signature is not base64 of a key ID and a signature")
        }
        name = signer
        keyID = blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        signature = Array(blob.dropFirst(4))
    }
}

/// A signed note as C2SP defines it: text, an empty line, one or more signature lines.
public struct SignedNote: Sendable {
    /// The exact text bytes, ending with LF; this is what signatures cover.
    public let text: [UInt8]
    public let signatures: [NoteSignature]
    /// The raw signature lines, without LF.
    public let signatureLines: [[UInt8]]

    /// The most signature lines accepted.
    public static let maxSignatures = 100

    /// Parses a standalone note.
    /// - Throws: `NoteError.malformed` for a missing final newline, no signatures, text that is
    ///   not UTF-8 or holds control characters, a malformed signature line, or too many.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.last == 0x0A else { throw NoteError.malformed(line: nil, "the note does not end with a newline") }
        // The text runs through the LF before the last empty line (the last "\n\n").
        var split: Int?
        for i in stride(from: bytes.count - 2, through: 0, by: -1) where bytes[i] == 0x0A && bytes[i + 1] == 0x0A {
            split = i + 1
            break
        }
        guard let split else { throw NoteError.malformed(line: nil, "no empty line before signatures") }
        let text = Array(bytes[0..<split])
        try SignedNote.checkText(text)
        let lines = bytes[(split + 1)...].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        guard !lines.isEmpty else { throw NoteError.malformed(line: nil, "the note has no signatures") }
        guard lines.count <= SignedNote.maxSignatures else {
            throw NoteError.malformed(line: nil, "more than \(SignedNote.maxSignatures) signatures")
        }
        let textLines = text.filter { $0 == 0x0A }.count
        var signatures: [NoteSignature] = []
        for (offset, line) in lines.enumerated() {
            signatures.append(try NoteSignature(line: Array(line), lineNumber: textLines + 2 + offset))
        }
        self.text = text
        self.signatures = signatures
        self.signatureLines = lines.map(Array.init)
    }

    /// A note from parts already split (a manifest's note text and signature lines).
    public init(text: [UInt8], signatureLines: [[UInt8]], firstSignatureLine: Int) throws {
        try SignedNote.checkText(text)
        self.text = text
        self.signatureLines = signatureLines
        self.signatures = try signatureLines.enumerated().map {
            try NoteSignature(line: $0.element, lineNumber: firstSignatureLine + $0.offset)
        }
    }

    static func checkText(_ text: [UInt8]) throws {
        guard let string = String(validating: text, as: UTF8.self) else {
            throw NoteError.malformed(line: nil, "the note text is not valid UTF-8")
        }
        if string.unicodeScalars.contains(where: { $0 != "\n" && isControl($0) }) {
            throw NoteError.malformed(line: nil, "the note text contains a control character")
        }
    }

    /// The bytes of the note: text, empty line, signature lines.
    public var bytes: [UInt8] {
        var out = text
        out.append(0x0A)
        for line in signatureLines { out += line; out.append(0x0A) }
        return out
    }

    /// What one known key's signature came to.
    public enum Outcome: Sendable, Equatable {
        case valid(VerifierKey)
        case invalid(VerifierKey)
    }

    /// Checks every signature whose name and key ID match a known key; unknown keys are
    /// ignored, as C2SP requires. Each known key appears once: valid only when every line it
    /// selects verifies, since C2SP says a known key's signature must always be verified (a
    /// second, failing line by the same key is not skipped).
    public func verify(with keys: [VerifierKey]) -> [Outcome] {
        var results: [(key: VerifierKey, valid: Bool)] = []
        for signature in signatures {
            guard let key = keys.first(where: { $0.matches(signature) }) else { continue }
            let valid = key.verify(signature: signature.signature, text: text)
            if let index = results.firstIndex(where: { $0.key == key }) {
                results[index].valid = results[index].valid && valid
            } else {
                results.append((key, valid))
            }
        }
        return results.map { $0.valid ? .valid($0.key) : .invalid($0.key) }
    }
}

extension SignedNote {
    /// Why a note did not open.
    public enum OpenError: Error, Equatable, Sendable {
        /// A known key's signature does not verify: the whole note is rejected.
        case invalidSignature(VerifierKey)
        /// No signature by a known key.
        case noKnownSignature
    }

    /// Opens a note as C2SP signed-note says: unknown keys are ignored, any failing signature
    /// by a known key rejects the note, and at least one known key must have signed.
    /// - Returns: the keys whose signatures verified, in signature-line order.
    /// - Throws: `OpenError`.
    public func open(with keys: [VerifierKey]) throws -> [VerifierKey] {
        var verified: [VerifierKey] = []
        for outcome in verify(with: keys) {
            switch outcome {
            case let .invalid(key): throw OpenError.invalidSignature(key)
            case let .valid(key): verified.append(key)
            }
        }
        guard !verified.isEmpty else { throw OpenError.noKnownSignature }
        return verified
    }
}

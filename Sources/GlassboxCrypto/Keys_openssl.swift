import COpenSSL
import Foundation

/// The signature algorithms Glassbox signs and verifies with.
public enum SignatureAlgorithm: String, Sendable, CaseIterable {
    /// Ed25519 (RFC 8032); C2SP signed-note type 0x01.
    case ed25519
    /// ECDSA over NIST P-256 with SHA-256, DER signatures; C2SP signed-note type 0x02.
    case ecdsaP256 = "ecdsa-p256"
}

/// One owner for one `EVP_PKEY`; freed exactly once.
final class PKey {
    let pointer: OpaquePointer
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    var algorithm: SignatureAlgorithm? {
        if EVP_PKEY_is_a(pointer, "ED25519") == 1 { return .ed25519 }
        if EVP_PKEY_is_a(pointer, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &length) == 1 else {
                return nil
            }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return group == "prime256v1" || group == "P-256" ? .ecdsaP256 : nil
        }
        return nil
    }

    /// The key's algorithm as people name it, for saying which keys are not supported.
    var algorithmName: String {
        for (type, name) in [("RSA", "RSA"), ("RSA-PSS", "RSA-PSS"), ("DSA", "DSA"), ("ED448", "Ed448"),
                             ("X25519", "X25519"), ("X448", "X448"), ("DH", "DH"), ("DHX", "DH"), ("SM2", "SM2")]
            where EVP_PKEY_is_a(pointer, type) == 1 {
            return name
        }
        if EVP_PKEY_is_a(pointer, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &length) == 1 else {
                return "EC"
            }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch group {
            case "prime256v1", "P-256": return "ECDSA P-256"
            case "secp384r1", "P-384": return "ECDSA P-384"
            case "secp521r1", "P-521": return "ECDSA P-521"
            default: return "EC \(group)"
            }
        }
        return EVP_PKEY_get0_type_name(pointer).map { String(cString: $0) } ?? "unknown"
    }
}

/// Why a private key file cannot be used. Each case is one fact the person holding the file
/// can act on; none carries OpenSSL's error stack.
public enum KeyFileError: Error, Equatable, Sendable {
    /// No `-----BEGIN` line: not PEM at all.
    case notPEM
    /// PEM, but of something else (a public key, a certificate): the label found.
    case notAPrivateKey(label: String)
    /// An OpenSSH private key, a format OpenSSL does not read.
    case openSSH
    /// The key is encrypted and no passphrase was given.
    case passphraseNeeded
    /// The passphrase given does not decrypt the key (or the encrypted key is damaged).
    case wrongPassphrase
    /// A key of an algorithm Glassbox does not sign with, e.g. "RSA" or "ECDSA P-384".
    case unsupported(algorithm: String)
    /// The PEM block does not decode to a private key; OpenSSL's last reason.
    case malformed(reason: String)
}

/// The labels of a PEM file's `-----BEGIN LABEL-----` lines, in order (at most 16).
func pemLabels(_ pem: [UInt8]) -> [String] {
    let begin = Array("-----BEGIN ".utf8)
    var labels: [String] = []
    var index = 0
    while index + begin.count <= pem.count, labels.count < 16 {
        guard pem[index..<(index + begin.count)].elementsEqual(begin) else { index += 1; continue }
        let start = index + begin.count
        var end = start
        while end < pem.count, end - start < 64, pem[end] != UInt8(ascii: "-"), pem[end] != 0x0A { end += 1 }
        labels.append(String(decoding: pem[start..<end], as: UTF8.self))
        index = end
    }
    return labels
}

/// The reason string of the newest error in OpenSSL's queue, if any.
func lastErrorReason() -> String? {
    let code = ERR_peek_last_error()
    guard code != 0, let reason = ERR_reason_error_string(code) else { return nil }
    return String(cString: reason)
}

/// What OpenSSL's passphrase callback hands over, and whether it was asked at all.
private final class PassphraseRequest {
    let passphrase: [UInt8]?
    var asked = false
    init(_ passphrase: [UInt8]?) { self.passphrase = passphrase }
}

/// OpenSSL's `pem_password_cb`: called only for an encrypted key. Returns the passphrase's
/// length, or -1 (no passphrase, or one longer than OpenSSL's buffer) to fail the read.
private func supplyPassphrase(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32,
                              _ context: UnsafeMutableRawPointer?) -> Int32 {
    guard let buffer, let context else { return -1 }
    let request = Unmanaged<PassphraseRequest>.fromOpaque(context).takeUnretainedValue()
    request.asked = true
    guard let passphrase = request.passphrase, passphrase.count <= Int(size) else { return -1 }
    passphrase.withUnsafeBytes { bytes in
        if let base = bytes.baseAddress { _ = memcpy(buffer, base, bytes.count) }
    }
    return Int32(passphrase.count)
}

/// A memory BIO, for PEM and DER in and out of OpenSSL.
private final class MemoryBIO {
    let pointer: OpaquePointer
    init() throws {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.fromQueue("BIO_new") }
        pointer = bio
    }
    init(_ bytes: [UInt8]) throws {
        guard bytes.count <= Int32.max else { throw CryptoError(function: "BIO_new_mem_buf", message: "input too large") }
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw CryptoError.fromQueue("BIO_new_mem_buf")
        }
        // BIO_new_mem_buf does not copy: keep the bytes alive as long as the BIO.
        pointer = bio
        retained = bytes
    }
    private var retained: [UInt8] = []
    deinit { BIO_free(pointer) }

    func contents() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { BIO_read(pointer, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { break }
            out += buffer[0..<Int(n)]
        }
        return out
    }
}

/// A private signing key held by OpenSSL.
public final class PrivateKey: @unchecked Sendable {
    let key: PKey
    /// The key's algorithm.
    public let algorithm: SignatureAlgorithm

    private init(_ key: PKey) throws {
        guard let algorithm = key.algorithm else {
            throw CryptoError(function: "EVP_PKEY_is_a", message: "not an Ed25519 or ECDSA P-256 key")
        }
        self.key = key
        self.algorithm = algorithm
    }

    /// Generates a new key.
    public static func generate(_ algorithm: SignatureAlgorithm) throws -> PrivateKey {
        let type = algorithm == .ed25519 ? "ED25519" : "EC"
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, type, nil) else { throw CryptoError.fromQueue("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw CryptoError.fromQueue("EVP_PKEY_keygen_init") }
        if algorithm == .ecdsaP256 {
            guard EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1 else { throw CryptoError.fromQueue("EVP_PKEY_CTX_set_group_name") }
        }
        var pkey: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else { throw CryptoError.fromQueue("EVP_PKEY_generate") }
        return try PrivateKey(PKey(takingOwnershipOf: pkey))
    }

    /// The Ed25519 key with this 32-byte seed (RFC 8032 private key).
    public static func ed25519(seed: [UInt8]) throws -> PrivateKey {
        guard seed.count == 32 else { throw CryptoError(function: "EVP_PKEY_new_raw_private_key", message: "an Ed25519 seed is 32 bytes") }
        guard let pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, 32) else {
            throw CryptoError.fromQueue("EVP_PKEY_new_raw_private_key")
        }
        return try PrivateKey(PKey(takingOwnershipOf: pkey))
    }

    /// Reads a PEM private key (PKCS#8, encrypted or not, or a traditional EC key).
    ///
    /// OpenSSL asks for the passphrase through a callback only when the key is encrypted, so
    /// "encrypted, and no passphrase" and "wrong passphrase" are told apart from a damaged
    /// file. OpenSSL's error queue is cleared on every path: the error thrown says it all.
    /// - Throws: `KeyFileError` for a file that is not a PEM private key, an encrypted key
    ///   without a passphrase or with the wrong one, a malformed key, or another algorithm.
    public static func fromPEM(_ pem: [UInt8], passphrase: [UInt8]?) throws -> PrivateKey {
        defer { ERR_clear_error() }
        let labels = pemLabels(pem)
        guard let label = labels.first(where: { $0.hasSuffix("PRIVATE KEY") }) else {
            throw labels.first.map { KeyFileError.notAPrivateKey(label: $0) } ?? KeyFileError.notPEM
        }
        // Traditional RSA and DSA files say what they are: no need to ask for a passphrase first.
        switch label {
        case "RSA PRIVATE KEY": throw KeyFileError.unsupported(algorithm: "RSA")
        case "DSA PRIVATE KEY": throw KeyFileError.unsupported(algorithm: "DSA")
        case "OPENSSH PRIVATE KEY": throw KeyFileError.openSSH
        default: break
        }
        let bio = try MemoryBIO(pem)
        let request = PassphraseRequest(passphrase)
        let pkey = withExtendedLifetime(request) {
            PEM_read_bio_PrivateKey(bio.pointer, nil, supplyPassphrase, Unmanaged.passUnretained(request).toOpaque())
        }
        guard let pkey else {
            if request.asked { throw passphrase == nil ? KeyFileError.passphraseNeeded : KeyFileError.wrongPassphrase }
            throw KeyFileError.malformed(reason: lastErrorReason() ?? "PEM_read_bio_PrivateKey failed")
        }
        let owner = PKey(takingOwnershipOf: pkey)
        guard owner.algorithm != nil else { throw KeyFileError.unsupported(algorithm: owner.algorithmName) }
        return try PrivateKey(owner)
    }

    /// The key as PKCS#8 PEM, encrypted with AES-256-CBC (PBKDF2) when a passphrase is given.
    public func pkcs8PEM(passphrase: [UInt8]?) throws -> [UInt8] {
        let bio = try MemoryBIO()
        let ok: Int32
        if let passphrase {
            var pass = passphrase.map { CChar(bitPattern: $0) }
            guard pass.count <= Int32.max else {
                throw CryptoError(function: "PEM_write_bio_PKCS8PrivateKey", message: "passphrase too long")
            }
            ok = PEM_write_bio_PKCS8PrivateKey(bio.pointer, key.pointer, EVP_aes_256_cbc(), &pass, Int32(pass.count), nil, nil)
        } else {
            ok = PEM_write_bio_PKCS8PrivateKey(bio.pointer, key.pointer, nil, nil, 0, nil, nil)
        }
        guard ok == 1 else { throw CryptoError.fromQueue("PEM_write_bio_PKCS8PrivateKey") }
        return bio.contents()
    }

    /// The matching public key.
    public func publicKey() throws -> PublicKey {
        switch algorithm {
        case .ed25519:
            var raw = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key.pointer, &raw, &length) == 1, length == 32 else {
                throw CryptoError.fromQueue("EVP_PKEY_get_raw_public_key")
            }
            return try PublicKey.ed25519(raw: raw)
        case .ecdsaP256:
            let length = i2d_PUBKEY(key.pointer, nil)
            guard length > 0 else { throw CryptoError.fromQueue("i2d_PUBKEY") }
            var der = [UInt8](repeating: 0, count: Int(length))
            let written = der.withUnsafeMutableBufferPointer { buffer in
                var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
                return i2d_PUBKEY(key.pointer, &cursor)
            }
            guard written == length else { throw CryptoError.fromQueue("i2d_PUBKEY") }
            return try PublicKey.spki(der: der)
        }
    }

    /// Signs `message`: Ed25519 over the message itself, ECDSA over its SHA-256 (DER signature).
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.fromQueue("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        let digest = algorithm == .ed25519 ? nil : "SHA256"
        guard EVP_DigestSignInit_ex(ctx, nil, digest, nil, nil, key.pointer, nil) == 1 else {
            throw CryptoError.fromQueue("EVP_DigestSignInit_ex")
        }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { throw CryptoError.fromQueue("EVP_DigestSign") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { throw CryptoError.fromQueue("EVP_DigestSign") }
        return Array(signature.prefix(length))
    }
}

/// A public verification key held by OpenSSL.
public final class PublicKey: @unchecked Sendable {
    let key: PKey
    public let algorithm: SignatureAlgorithm
    /// The key's public encoding: 32 raw bytes for Ed25519, DER SubjectPublicKeyInfo for ECDSA.
    public let encoded: [UInt8]

    private init(_ key: PKey, _ algorithm: SignatureAlgorithm, _ encoded: [UInt8]) {
        self.key = key
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// The Ed25519 key with these 32 bytes (RFC 8032 encoding).
    public static func ed25519(raw: [UInt8]) throws -> PublicKey {
        guard raw.count == 32 else { throw CryptoError(function: "EVP_PKEY_new_raw_public_key", message: "an Ed25519 public key is 32 bytes, not \(raw.count)") }
        guard let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, 32) else {
            throw CryptoError.fromQueue("EVP_PKEY_new_raw_public_key")
        }
        return PublicKey(PKey(takingOwnershipOf: pkey), .ed25519, raw)
    }

    /// An ECDSA P-256 key from its DER SubjectPublicKeyInfo.
    /// - Throws: `CryptoError` for malformed DER, trailing bytes, or another key type or curve.
    public static func spki(der: [UInt8]) throws -> PublicKey {
        let pkey: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            // Every byte must belong to the key: no trailing data.
            if let key, cursor != buffer.baseAddress! + buffer.count { EVP_PKEY_free(key); return nil }
            return key
        }
        guard let pkey else { throw CryptoError.fromQueue("d2i_PUBKEY") }
        let owner = PKey(takingOwnershipOf: pkey)
        guard owner.algorithm == .ecdsaP256 else {
            throw CryptoError(function: "d2i_PUBKEY", message: "not an ECDSA P-256 public key")
        }
        return PublicKey(owner, .ecdsaP256, der)
    }

    /// Whether `signature` is valid for `message`. ECDSA signatures are DER; OpenSSL rejects
    /// non-canonical encodings.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        let digest = algorithm == .ed25519 ? nil : "SHA256"
        guard EVP_DigestVerifyInit_ex(ctx, nil, digest, nil, nil, key.pointer, nil) == 1 else {
            ERR_clear_error()
            return false
        }
        let ok = EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1
        ERR_clear_error()
        return ok
    }

    /// Verifies an ECDSA signature given as r ‖ s (IEEE P1363, 32 bytes each), as Wycheproof's
    /// p1363 files give them, by converting it to DER.
    public func verifyP1363(signature: [UInt8], message: [UInt8]) -> Bool {
        guard algorithm == .ecdsaP256, signature.count == 64 else { return false }
        guard let sig = ECDSA_SIG_new() else { return false }
        defer { ECDSA_SIG_free(sig) }
        guard let r = BN_bin2bn(signature, 32, nil), let s = BN_bin2bn(Array(signature[32...]), 32, nil) else { return false }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return false }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return false }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        guard written == length else { ERR_clear_error(); return false }
        return verify(signature: der, message: message)
    }
}

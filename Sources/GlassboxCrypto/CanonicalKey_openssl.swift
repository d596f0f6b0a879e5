import COpenSSL

extension PublicKey {
    /// The key itself, whatever encoding it arrived in: Ed25519's 32 raw bytes, or for ECDSA
    /// P-256 the uncompressed point 0x04 ‖ X ‖ Y (65 bytes). Two encodings of one key (a
    /// compressed and an uncompressed point, say) give the same bytes, so a policy can tell
    /// keys apart by what they are rather than how they are written.
    /// - Throws: `CryptoError` naming the OpenSSL call that failed.
    public func canonicalBytes() throws -> [UInt8] {
        switch algorithm {
        case .ed25519:
            return encoded
        case .ecdsaP256:
            var out: [UInt8] = [0x04]
            for name in [OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y] {
                var number: OpaquePointer?
                guard EVP_PKEY_get_bn_param(key.pointer, name, &number) == 1, let number else {
                    throw CryptoError.fromQueue("EVP_PKEY_get_bn_param")
                }
                defer { BN_free(number) }
                var coordinate = [UInt8](repeating: 0, count: 32)
                guard BN_bn2binpad(number, &coordinate, 32) == 32 else { throw CryptoError.fromQueue("BN_bn2binpad") }
                out += coordinate
            }
            return out
        }
    }
}

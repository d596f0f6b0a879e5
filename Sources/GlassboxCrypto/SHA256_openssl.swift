import Foundation
import COpenSSL

/// An error from OpenSSL, naming the function that failed and OpenSSL's own message.
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    /// The OpenSSL function that failed.
    public let function: String
    /// OpenSSL's error queue, drained, or a plain explanation.
    public let message: String

    public var description: String { "\(function): \(message)" }

    /// Builds an error from `function` and drains OpenSSL's thread-local error queue.
    static func fromQueue(_ function: String) -> CryptoError {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CryptoError(function: function, message: parts.isEmpty ? "failed" : parts.joined(separator: "; "))
    }
}

/// The digests Glassbox computes: SHA-256 for content and Merkle trees, SHA-1 only to check
/// git object ids.
public enum DigestKind: Sendable {
    case sha256, sha1

    var byteCount: Int { self == .sha256 ? 32 : 20 }

    // Fetched once each: implicit fetching on every call costs a lookup in OpenSSL 3.
    nonisolated(unsafe) private static let sha256Algorithm: OpaquePointer = fetch("SHA256")
    nonisolated(unsafe) private static let sha1Algorithm: OpaquePointer = fetch("SHA1")

    private static func fetch(_ name: String) -> OpaquePointer {
        guard let md = EVP_MD_fetch(nil, name, nil) else {
            fatalError("OpenSSL has no \(name): \(CryptoError.fromQueue("EVP_MD_fetch"))")
        }
        return md
    }

    var algorithm: OpaquePointer { self == .sha256 ? DigestKind.sha256Algorithm : DigestKind.sha1Algorithm }
}

/// SHA-256 through the system OpenSSL.
public enum SHA256 {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// An incremental SHA-256 (`DigestHasher(.sha256)`).
    public typealias Hasher = DigestHasher

    /// The SHA-256 of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                let ok = EVP_Digest(input.baseAddress, input.count,
                                    output.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
                                    DigestKind.sha256.algorithm, nil)
                requireOpenSSL(ok, "EVP_Digest")
            }
        }
        return out
    }

    /// The SHA-256 of `prefix` followed by `parts`, without concatenating them first.
    public static func hash(prefix: UInt8, _ parts: [UInt8]...) -> [UInt8] {
        let hasher = Hasher()
        hasher.update([prefix])
        for part in parts { hasher.update(part) }
        return hasher.finish()
    }
}

/// An incremental digest: memory stays constant whatever the length of the input.
public final class DigestHasher {
    private let context: OpaquePointer
    private let kind: DigestKind
    private var finished = false

    /// Starts a new digest.
    ///
    /// A failing OpenSSL digest call stops the process with a message naming the call: a digest
    /// must never silently be left as zeros, and these calls fail only when OpenSSL itself is
    /// broken (no memory, a missing provider), never because of the bytes hashed.
    public init(_ kind: DigestKind = .sha256) {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        context = ctx
        self.kind = kind
        requireOpenSSL(EVP_DigestInit_ex(context, kind.algorithm, nil), "EVP_DigestInit_ex")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds `bytes` to the digest. Precondition: `finish()` has not been called.
    public func update(_ bytes: some ContiguousBytes) {
        precondition(!finished, "DigestHasher used after finish()")
        bytes.withUnsafeBytes { input in
            requireOpenSSL(EVP_DigestUpdate(context, input.baseAddress, input.count), "EVP_DigestUpdate")
        }
    }

    /// Adds `count` bytes starting at `pointer`.
    public func update(_ pointer: UnsafeRawPointer, count: Int) {
        precondition(!finished, "DigestHasher used after finish()")
        requireOpenSSL(EVP_DigestUpdate(context, pointer, count), "EVP_DigestUpdate")
    }

    /// Returns the digest. The hasher cannot be used afterwards.
    public func finish() -> [UInt8] {
        precondition(!finished, "DigestHasher finished twice")
        finished = true
        var out = [UInt8](repeating: 0, count: kind.byteCount)
        var length: UInt32 = 0
        out.withUnsafeMutableBytes { output in
            requireOpenSSL(EVP_DigestFinal_ex(context, output.baseAddress!.assumingMemoryBound(to: UInt8.self), &length),
                           "EVP_DigestFinal_ex")
        }
        requireOpenSSL(length == kind.byteCount ? 1 : 0, "EVP_DigestFinal_ex")
        return out
    }
}

/// Stops the process unless an OpenSSL call returned 1 (success), naming the call and OpenSSL's
/// own error queue. Used where a failure would otherwise leave a wrong result (a zeroed digest)
/// and no caller could do anything better than stop.
/// - Precondition: `status == 1`.
func requireOpenSSL(_ status: Int32, _ function: StaticString) {
    if status != 1 { fatalError("\(function) failed: \(CryptoError.fromQueue("\(function)").message)") }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
    }
}

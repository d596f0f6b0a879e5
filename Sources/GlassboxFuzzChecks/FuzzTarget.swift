/// Property checks over hostile input, one per parser or untrusted-input path.
///
/// The fuzz executables in `FuzzTesting/` feed libFuzzer's inputs to these checks, and the
/// `FuzzRegressionTests` replay the committed corpus and every crash ever found through the same
/// code, so a fixed bug stays fixed under plain `swift test`. A check returns whether the input
/// got far enough for its properties to be asserted; it throws `PropertyViolation` when a
/// property does not hold. A crash inside the code under test is a crash here too.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case manifest
    case signedNote = "signed-note"
    case verifierKey = "verifier-key"
    case trustPolicy = "trust-policy"
    case fileProof = "file-proof"
    case checkpoint
    case consistencyProof = "consistency-proof"
    case entryBundle = "entry-bundle"
    case witness
    case gitattributes
    case scanContent = "scan-content"
    case escaping
    case treeComparison = "tree-comparison"
    case merkleProofs = "merkle-proofs"
    case recipe
    case rebuildAttestation = "rebuild-attestation"
    case tarball

    /// What became of one input.
    public enum Outcome: Sendable, Equatable {
        /// The input was rejected early, as it should be; only "no crash" was checked.
        case rejected
        /// The input was accepted and the target's properties held.
        case checked
    }

    /// Runs this target's check on `input`.
    /// - Throws: `PropertyViolation` when a property does not hold.
    public func check(_ input: [UInt8]) throws -> Outcome {
        switch self {
        case .manifest: try checkManifest(input)
        case .signedNote: try checkSignedNote(input)
        case .verifierKey: try checkVerifierKey(input)
        case .trustPolicy: try checkTrustPolicy(input)
        case .fileProof: try checkFileProof(input)
        case .checkpoint: try checkCheckpoint(input)
        case .consistencyProof: try checkConsistencyProof(input)
        case .entryBundle: try checkEntryBundle(input)
        case .witness: try checkWitness(input)
        case .gitattributes: try checkGitattributes(input)
        case .scanContent: try checkScanContent(input)
        case .escaping: try checkEscaping(input)
        case .treeComparison: try checkTreeComparison(input)
        case .merkleProofs: try checkMerkleProofs(input)
        case .recipe: try checkRecipe(input)
        case .rebuildAttestation: try checkRebuildAttestation(input)
        case .tarball: try checkTarball(input)
        }
    }

    /// The body of a fuzz executable's `LLVMFuzzerTestOneInput`: a violated property stops the
    /// process, so libFuzzer keeps the input as a crash.
    public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
        let input = Array(UnsafeRawBufferPointer(start: start, count: count))
        do {
            _ = try check(input)
        } catch {
            fatalError("\(rawValue): \(error)")
        }
        return 0
    }
}

/// A property that does not hold for some input.
public struct PropertyViolation: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Throws `PropertyViolation(message)` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw PropertyViolation(message()) }
}

/// Splits fuzz input into at most `count` parts at NUL bytes; the last part keeps any further NULs.
func parts(_ input: [UInt8], _ count: Int) -> [[UInt8]] {
    input.split(separator: 0, maxSplits: count - 1, omittingEmptySubsequences: false).map(Array.init)
}

/// A small deterministic number drawn from the input, for choices such as which byte to flip.
func choice(_ input: [UInt8], salt: UInt64 = 0) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ salt   // FNV-1a
    for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

/// Reads fuzz input as a stream of numbers and byte strings.
struct InputReader {
    private var bytes: ArraySlice<UInt8>
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    var isEmpty: Bool { bytes.isEmpty }

    mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }

    /// A number from the next `width` bytes, big-endian; zeros once the input runs out.
    mutating func number(bytes width: Int) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<width { value = value << 8 | UInt64(byte()) }
        return value
    }

    /// The bytes up to the next NUL (dropped), or the rest.
    mutating func field() -> [UInt8] {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        defer { bytes = bytes[min(end + 1, bytes.endIndex)...] }
        return Array(bytes[..<end])
    }

    mutating func rest() -> [UInt8] {
        defer { bytes = bytes[bytes.endIndex...] }
        return Array(bytes)
    }
}

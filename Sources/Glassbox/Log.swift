import GlassboxCrypto

/// A log checkpoint (C2SP tlog-checkpoint): origin, tree size, root hash.
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var root: [UInt8]

    public init(origin: String, size: UInt64, root: [UInt8]) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: three lines, each ending with LF.
    public var text: [UInt8] { Array("\(origin)\n\(size)\n\(base64(root))\n".utf8) }

    /// Parses a checkpoint's note text; extension lines are allowed and ignored.
    /// - Throws: `FormatError` naming the line.
    public init(parsing text: [UInt8]) throws {
        guard let string = String(validating: text, as: UTF8.self), string.hasSuffix("\n") else {
            throw FormatError(line: nil, "a checkpoint is UTF-8 lines ending with a newline")
        }
        let lines = string.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count >= 3, !lines[0].isEmpty else { throw FormatError(line: 1, "a checkpoint needs an origin, a size and a root") }
        guard let size = parseDecimal(Array(lines[1].utf8)) else { throw FormatError(line: 2, "the size '\(lines[1])' is not a decimal number") }
        guard let root = decodeBase64(lines[2]), root.count == 32 else { throw FormatError(line: 3, "the root is not the base64 of 32 bytes") }
        origin = String(lines[0])
        self.size = size
        self.root = root
    }

    /// `origin size root`, for messages.
    public var summary: String { "\(origin) size \(size) root \(base64(root))" }
}

/// Paths and contents of a log in the C2SP tlog-tiles layout: tiles of height 8 (256 hashes)
/// at `tile/<L>/<N>`, partial ones at `tile/<L>/<N>.p/<W>`, and entry bundles at
/// `tile/entries/<N>[.p/<W>]`, each entry a big-endian uint16 length and its bytes.
public enum TileLog {
    public static let width = 256

    /// `tile/<level>/<index>[.p/<width>]`, the index in 3-digit groups, all but the last `x`-prefixed.
    public static func tilePath(level: Int, index: UInt64, width: Int) -> String {
        "tile/\(level)/" + encodeIndex(index) + (width < TileLog.width ? ".p/\(width)" : "")
    }

    /// `tile/entries/<index>[.p/<width>]`.
    public static func entriesPath(index: UInt64, width: Int) -> String {
        "tile/entries/" + encodeIndex(index) + (width < TileLog.width ? ".p/\(width)" : "")
    }

    static func encodeIndex(_ index: UInt64) -> String {
        var groups: [String] = []
        var n = index
        repeat {
            let group = String(n % 1000)
            groups.insert(String(repeating: "0", count: 3 - group.count) + group, at: 0)
            n /= 1000
        } while n > 0
        return groups.dropLast().map { "x" + $0 }.joined(separator: "/") + (groups.count > 1 ? "/" : "") + groups.last!
    }

    /// Every tile and entry bundle of the tree over `entries` whose content differs from the tree
    /// of the first `oldSize` entries: new full tiles, and partial tiles at their new widths.
    /// Files an older checkpoint refers to are never among them, so an interrupted append
    /// leaves the old checkpoint's files intact.
    public static func files(entries: [[UInt8]], leafHashes: [[UInt8]], oldSize: Int) -> [(path: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        // The tiles of one level whose width changed between `oldCount` and `items.count` items.
        func changedTiles(_ count: Int, _ oldCount: Int, _ body: (_ index: Int, _ range: Range<Int>) -> Void) {
            var t = oldCount / width
            while t * width < count {
                let range = (t * width)..<min(t * width + width, count)
                let oldWidth = max(0, min(width, oldCount - t * width))
                if range.count != oldWidth { body(t, range) }
                t += 1
            }
        }
        changedTiles(entries.count, oldSize) { t, range in
            var bundle: [UInt8] = []
            for entry in entries[range] { bundle += [UInt8(entry.count >> 8), UInt8(entry.count & 0xFF)] + entry }
            out.append((entriesPath(index: UInt64(t), width: range.count), bundle))
        }
        // Level L holds the roots of complete subtrees of 256^L leaves.
        var level = leafHashes
        var oldCount = oldSize
        var l = 0
        while !level.isEmpty {
            let hashes = level
            changedTiles(hashes.count, oldCount) { t, range in
                out.append((tilePath(level: l, index: UInt64(t), width: range.count), Array(hashes[range].joined())))
            }
            level = stride(from: 0, to: hashes.count / width * width, by: width).map {
                Merkle.root(leafHashes: Array(hashes[$0..<($0 + width)]))
            }
            oldCount /= width
            l += 1
        }
        return out
    }

    /// Decodes an entry bundle.
    /// - Throws: `FormatError` for a truncated bundle.
    public static func decodeBundle(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard i + 2 <= bytes.count else { throw FormatError(line: nil, "an entry bundle is truncated") }
            let length = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            guard i + 2 + length <= bytes.count else { throw FormatError(line: nil, "an entry bundle is truncated") }
            out.append(Array(bytes[(i + 2)..<(i + 2 + length)]))
            i += 2 + length
        }
        return out
    }
}

/// A log's own record of every checkpoint it signed, kept so that it never signs a fork.
///
/// One line per step, appended and fsynced: `signed SIZE ROOT` before a checkpoint is
/// published (so no signature leaves the log unrecorded), `published SIZE ROOT` once the
/// checkpoint file holds it. A crash between the two leaves a signed, maybe unpublished
/// checkpoint, which the next append publishes (the same tree again, never a different one);
/// a checkpoint file older than the newest published one was rolled back, and is refused.
public struct SignedCheckpoints: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        public var published: Bool
        public var size: UInt64
        public var root: [UInt8]

        public init(published: Bool, size: UInt64, root: [UInt8]) {
            self.published = published
            self.size = size
            self.root = root
        }

        /// The record's line, ending with LF.
        public var line: [UInt8] { Array("\(published ? "published" : "signed") \(size) \(base64(root))\n".utf8) }
    }

    /// In file order; sizes never decrease, and one size has one root.
    public private(set) var records: [Record]
    /// The bytes up to the end of the last whole line: a crash mid-append may leave a torn
    /// line after them, which was never fsynced and so never followed by a publication.
    public private(set) var wholeLength: Int

    /// - Throws: `FormatError` naming the line, for a malformed line, a size smaller than the
    ///   one before, or two roots for one size (a fork in the record itself).
    public init(parsing bytes: [UInt8]) throws {
        records = []
        wholeLength = (bytes.lastIndex(of: 0x0A) ?? -1) + 1
        for (offset, line) in bytes[..<wholeLength].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().enumerated() {
            let fields = line.split(separator: 0x20, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0].elementsEqual("signed".utf8) || fields[0].elementsEqual("published".utf8),
                  let size = parseDecimal(Array(fields[1])),
                  let root = decodeBase64(String(decoding: fields[2], as: UTF8.self)), root.count == 32 else {
                throw FormatError(line: offset + 1, "expected 'signed SIZE ROOT' or 'published SIZE ROOT'")
            }
            let record = Record(published: fields[0].elementsEqual("published".utf8), size: size, root: root)
            if let last = records.last {
                guard size >= last.size else { throw FormatError(line: offset + 1, "the size \(size) is smaller than the one before") }
                guard size > last.size || constantTimeEquals(root, last.root) else {
                    throw FormatError(line: offset + 1, "a second root for size \(size)")
                }
            }
            records.append(record)
        }
    }

    /// Where an append must start: the newest checkpoint signed, provided the checkpoint file
    /// holds it or the newest published one before it. Returns why not otherwise.
    public func start(from checkpoint: Checkpoint) -> Swift.Result<Record, Refusal> {
        guard let newest = records.last else {
            return .failure(Refusal("the record of signed checkpoints is empty"))
        }
        let recorded = records.last { $0.size == checkpoint.size }
        if let recorded, !constantTimeEquals(recorded.root, checkpoint.root) {
            return .failure(Refusal("the checkpoint file (\(checkpoint.summary)) is not the tree this log signed at that size (root \(base64(recorded.root)))"))
        }
        if let published = records.last(where: \.published), checkpoint.size < published.size {
            return .failure(Refusal("the checkpoint file (size \(checkpoint.size)) is older than the newest checkpoint this log published (size \(published.size), root \(base64(published.root)))"))
        }
        guard recorded != nil else {
            return .failure(Refusal("the checkpoint file (\(checkpoint.summary)) is not one this log signed; the newest it signed has size \(newest.size)"))
        }
        return .success(newest)
    }

    /// Why signing `checkpoint` now would fork the log, or nil: it must be larger than every
    /// tree signed before, or the newest one again.
    public func refusalToSign(_ checkpoint: Checkpoint) -> Refusal? {
        guard let newest = records.last else { return nil }
        if checkpoint.size == newest.size && constantTimeEquals(checkpoint.root, newest.root) { return nil }
        if let same = records.last(where: { $0.size == checkpoint.size }) {
            return Refusal("the log already signed size \(checkpoint.size) with root \(base64(same.root)); refusing to sign root \(base64(checkpoint.root))")
        }
        if checkpoint.size < newest.size {
            return Refusal("the log already signed a larger tree (size \(newest.size)); refusing to sign size \(checkpoint.size)")
        }
        return nil
    }

    /// Why a log cannot go on as it is.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// A proof that a log of `oldSize` is a prefix of the log of `newSize` (RFC 6962), as text:
/// `glassbox-consistency-proof v1`, `old N`, `new M`, then one base64 hash a line.
public struct ConsistencyProof: Sendable, Equatable {
    public static let header = "glassbox-consistency-proof v1"
    public var oldSize: UInt64
    public var newSize: UInt64
    public var hashes: [[UInt8]]

    public init(oldSize: UInt64, newSize: UInt64, hashes: [[UInt8]]) {
        self.oldSize = oldSize
        self.newSize = newSize
        self.hashes = hashes
    }

    public var text: [UInt8] {
        Array(([ConsistencyProof.header, "old \(oldSize)", "new \(newSize)"] + hashes.map(base64)).map { $0 + "\n" }.joined().utf8)
    }

    /// - Throws: `FormatError` naming the line.
    public init(parsing bytes: [UInt8]) throws {
        guard let text = String(validating: bytes, as: UTF8.self), text.hasSuffix("\n") else {
            throw FormatError(line: nil, "a consistency proof is UTF-8 lines ending with a newline")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count >= 3, lines[0] == ConsistencyProof.header else { throw FormatError(line: 1, "expected '\(ConsistencyProof.header)'") }
        guard lines[1].hasPrefix("old "), let old = parseDecimal(Array(lines[1].dropFirst(4).utf8)) else { throw FormatError(line: 2, "expected 'old N'") }
        guard lines[2].hasPrefix("new "), let new = parseDecimal(Array(lines[2].dropFirst(4).utf8)) else { throw FormatError(line: 3, "expected 'new N'") }
        var hashes: [[UInt8]] = []
        for (offset, line) in lines.dropFirst(3).enumerated() {
            guard let hash = decodeBase64(line), hash.count == 32 else { throw FormatError(line: 4 + offset, "expected the base64 of a 32-byte hash") }
            hashes.append(hash)
        }
        oldSize = old
        newSize = new
        self.hashes = hashes
    }
}

// MARK: - Witness cosignatures (C2SP tlog-cosignature, Ed25519, type 0x04)

/// A witness's cosigning key: an Ed25519 key whose vkey has signature type 0x04.
public struct CosignatureKey: Sendable, Equatable {
    public let name: String
    public let keyID: UInt32
    let publicKey: PublicKey

    /// `name+keyid+base64(0x04 ‖ key)`.
    public var description: String { "\(name)+\(hexID(keyID))+\(base64([0x04] + publicKey.encoded))" }

    public static func == (a: CosignatureKey, b: CosignatureKey) -> Bool { a.description == b.description }

    init(name: String, publicKey: PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyID = CosignatureKey.keyID(name: name, key: publicKey.encoded)
    }

    static func keyID(name: String, key: [UInt8]) -> UInt32 {
        SHA256.hash(Array(name.utf8) + [0x0A, 0x04] + key).prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// Parses a type-0x04 vkey.
    /// - Throws: `NoteError.badKey`.
    public init(parsing text: String) throws {
        // Split on bytes: a '+' with a combining mark after it is still a '+'.
        let parts = text.utf8.split(separator: UInt8(ascii: "+"), maxSplits: 2, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3, !parts[0].isEmpty, let id = decodeHex(Array(parts[1].utf8), count: 4),
              let blob = decodeBase64(parts[2]), blob.first == 0x04, blob.count == 33 else {
            throw NoteError.badKey("'\(text)' is not a witness key NAME+KEYID+base64(0x04 ‖ Ed25519 key)")
        }
        let key: PublicKey
        do { key = try .ed25519(raw: Array(blob.dropFirst())) } catch { throw NoteError.badKey("the witness key is not an Ed25519 key") }
        self.init(name: String(parts[0]), publicKey: key)
        guard keyID == id.reduce(UInt32(0), { $0 << 8 | UInt32($1) }) else {
            throw NoteError.badKey("the key ID \(parts[1]) does not match the witness key")
        }
    }

    /// The message a cosignature signs: `cosignature/v1`, `time T`, then the checkpoint text.
    static func message(_ checkpointText: [UInt8], timestamp: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(timestamp)\n".utf8) + checkpointText
    }

    /// The timestamp of this key's valid cosignature among `signatures`, or nil.
    public func verify(_ signatures: [NoteSignature], checkpointText: [UInt8]) -> UInt64? {
        // Every line this key's name and ID select must verify (C2SP signed-note: a known key's
        // signature is always checked); one that does not means the cosignature does not count.
        var first: UInt64?
        for s in signatures where s.keyID == keyID && s.name.utf8.elementsEqual(name.utf8) {
            guard s.signature.count == 72 else { return nil }
            let timestamp = s.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard publicKey.verify(signature: Array(s.signature.dropFirst(8)),
                                   message: CosignatureKey.message(checkpointText, timestamp: timestamp)) else { return nil }
            first = first ?? timestamp
        }
        return first
    }
}

/// A witness: an Ed25519 private key and its name.
public struct Witness: Sendable {
    public let key: CosignatureKey
    let privateKey: PrivateKey

    /// - Throws: `CryptoError` unless the key is Ed25519.
    public init(name: String, privateKey: PrivateKey) throws {
        guard privateKey.algorithm == .ed25519 else {
            throw NoteError.badKey("a tlog-cosignature/v1 witness key is Ed25519")
        }
        self.privateKey = privateKey
        key = CosignatureKey(name: name, publicKey: try privateKey.publicKey())
    }

    /// The cosignature line (without LF) over `checkpointText` at `timestamp`.
    public func cosign(_ checkpointText: [UInt8], timestamp: UInt64) throws -> [UInt8] {
        let signature = try privateKey.sign(CosignatureKey.message(checkpointText, timestamp: timestamp))
        let id = key.keyID
        var blob = [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
        for shift in stride(from: 56, through: 0, by: -8) { blob.append(UInt8(timestamp >> UInt64(shift) & 0xFF)) }
        return Manifest.signaturePrefix + Array("\(key.name) \(base64(blob + signature))".utf8)
    }
}

import GlassboxCrypto
import GlassboxGit

/// A self-contained proof that one file belongs to a signed release, in the C2SP
/// tlog-proof@v1 shape:
///
/// ```
/// c2sp.org/tlog-proof@v1
/// extra base64(the file's entry line)
/// index N
/// base64 hash, one a line, from the leaf's sibling up
///
/// the manifest's signed note (note text, empty line, signature lines)
/// ```
/// The `extra` data is not trusted by itself: it is the leaf, so the inclusion proof
/// authenticates it against the signed root.
public struct FileProof: Sendable {
    public static let header = "c2sp.org/tlog-proof@v1"
    /// The largest proof file accepted, in bytes.
    public static let maxSize = 1 << 20

    /// The entry line, the Merkle leaf.
    public var entryLine: [UInt8]
    public var index: UInt64
    public var hashes: [[UInt8]]
    /// The signed checkpoint: the manifest's note text and signatures.
    public var note: SignedNote

    /// The proof for `path` in `manifest`.
    /// - Throws: `FormatError` if the manifest is unsigned, inconsistent, or does not list `path`.
    public static func make(manifest: Manifest, path: [UInt8]) throws -> FileProof {
        guard !manifest.signatureLines.isEmpty else {
            throw FormatError(line: nil, "the manifest is not signed; sign it first (glassbox sign)")
        }
        try manifest.checkConsistency()
        guard let index = manifest.entries.firstIndex(where: { $0.path == path }) else {
            throw FormatError(line: nil, "the manifest lists no path '\(Escaping.escape(path))'")
        }
        let lines = manifest.entries.map(Manifest.entryLine)
        let proof = Merkle.inclusionProof(index: index, leafHashes: lines.map { Merkle.leafHash($0) })
        let note = try SignedNote(text: manifest.noteText, signatureLines: manifest.signatureLines, firstSignatureLine: 0)
        return FileProof(entryLine: lines[index], index: UInt64(index), hashes: proof, note: note)
    }

    public init(entryLine: [UInt8], index: UInt64, hashes: [[UInt8]], note: SignedNote) {
        self.entryLine = entryLine
        self.index = index
        self.hashes = hashes
        self.note = note
    }

    /// The proof file's bytes; without an `extra` line when there is no entry line (a log
    /// proof), as `init(parsing:)` reads it.
    public func render() -> [UInt8] {
        var lines = [FileProof.header] + (entryLine.isEmpty ? [] : ["extra " + base64(entryLine)]) + ["index \(index)"]
        lines += hashes.map(base64)
        return Array((lines.joined(separator: "\n") + "\n\n").utf8) + note.bytes
    }

    /// Parses a proof file strictly.
    /// - Throws: `FormatError` naming the line.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= FileProof.maxSize else { throw FormatError(line: nil, "the proof is larger than 1 MiB") }
        guard let blank = (0..<max(0, bytes.count - 1)).first(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else {
            throw FormatError(line: nil, "no empty line between the proof and the checkpoint")
        }
        guard let head = String(validating: bytes[0..<blank], as: UTF8.self) else {
            throw FormatError(line: nil, "the proof lines are not UTF-8")
        }
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard lines.count >= 2, lines.first == Substring(FileProof.header) else {
            throw FormatError(line: 1, "expected '\(FileProof.header)'")
        }
        lines = lines.dropFirst()
        // The extra line is optional: a log proof's entry is the manifest the reviewer holds.
        var extra: [UInt8] = []
        if lines.first!.hasPrefix("extra ") {
            guard let decoded = decodeBase64(lines.first!.dropFirst(6)), !decoded.isEmpty else {
                throw FormatError(line: 2, "expected 'extra' and base64 data")
            }
            extra = decoded
            lines = lines.dropFirst()
        }
        let indexLine = 3 - (extra.isEmpty ? 1 : 0)
        guard let first = lines.first, first.hasPrefix("index "), let index = parseDecimal(Array(first.dropFirst(6).utf8)) else {
            throw FormatError(line: indexLine, "expected 'index N'")
        }
        var hashes: [[UInt8]] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            guard let hash = decodeBase64(line), hash.count == 32 else {
                throw FormatError(line: indexLine + 1 + offset, "expected the base64 of a 32-byte hash")
            }
            hashes.append(hash)
        }
        do {
            self.note = try SignedNote(parsing: Array(bytes[(blank + 2)...]))
        } catch let error as NoteError {
            throw FormatError(line: nil, "the checkpoint: \(error)")
        }
        self.entryLine = extra
        self.index = index
        self.hashes = hashes
    }

    /// Checks the proof for a file the reviewer holds: the checkpoint's signatures against
    /// `policy`, the inclusion of the entry line under the signed root, and that `actual`
    /// (the file as read) matches the entry. Returns the entry and every finding.
    public func verify(actual: TreeEntry?, policy: TrustPolicy, day: String)
        -> (entry: TreeEntry?, header: ReleaseHeader?, verdict: SignatureVerdict?, findings: [Finding]) {
        var findings: [Finding] = []
        let parsed: (header: ReleaseHeader, count: UInt64, root: [UInt8])
        do {
            parsed = try Manifest.parseNoteText(note.text)
        } catch {
            return (nil, nil, nil, [Finding(.failure, .proof, .badCheckpoint, "the checkpoint is not a Glassbox release note: \(error)")])
        }
        let verdict = checkSignatures(text: note.text, signatureLines: note.signatureLines,
                                      origin: parsed.header.origin, policy: policy, day: day)
        findings += verdict.findings
        let entry: TreeEntry
        do {
            entry = try Manifest.parseEntry(entryLine[...], lineNumber: 0)
        } catch {
            findings.append(Finding(.failure, .proof, .badEntry, "the proof's entry line is malformed: \(error)"))
            return (nil, parsed.header, verdict, findings)
        }
        do {
            try Merkle.verifyInclusion(index: index, size: parsed.count, leafHash: Merkle.leafHash(entryLine),
                                       proof: hashes, root: parsed.root)
        } catch {
            findings.append(Finding(.failure, .proof, .notIncluded, subject: Escaping.escape(entry.path),
                                    "the inclusion proof does not lead to the signed root: \(error)"))
        }
        if let actual {
            let differences = compare(expected: [entry], actual: [TreeEntry(path: entry.path, kind: actual.kind,
                                                                            size: actual.size, digest: actual.digest)])
            findings += sourceFindings(differences)
        }
        return (entry, parsed.header, verdict, findings)
    }
}

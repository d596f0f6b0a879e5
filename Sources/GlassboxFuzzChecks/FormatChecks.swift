import Glassbox
import GlassboxCrypto
import GlassboxGit

// Parsers of the files a vendor or a log hands over: each must reject what is not exactly its
// format, and what it accepts must serialise back to the bytes it read.

/// Manifest: a manifest that parses renders back to the same bytes; its origin holds no space
/// or `+` byte; its note text is the one text its header has; streaming the entries gives the
/// same entries; and when the stated count and root are consistent, building a manifest from
/// its entries gives the same root.
func checkManifest(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let manifest = try? Manifest.parse(input) else { return .rejected }
    try require(manifest.render() == input, "the manifest does not render back to the bytes it was parsed from")
    try require(input.starts(with: manifest.noteText), "the note text is not the manifest's first bytes")
    try require(!manifest.header.origin.utf8.contains { $0 == 0x20 || $0 == 0x2B },
                "the origin '\(manifest.header.origin)' holds a space or '+' byte")
    let canonical = Manifest.noteText(header: manifest.header, count: manifest.count, root: manifest.root)
    try require(canonical == manifest.noteText, "the note text is not the canonical text of its header")

    var lines = ByteLines(input)
    var streamed: [TreeEntry] = []
    let again = try? Manifest.parse(lines: &lines) { streamed.append($0) }
    try require(again != nil && streamed == manifest.entries, "streaming the entries gives other entries")
    try require(UInt64(manifest.entries.count) == manifest.entryCount, "entryCount is not the number of entries")

    if manifest.isConsistent {
        guard let rebuilt = try? Manifest(header: manifest.header, entries: manifest.entries) else {
            throw PropertyViolation("a consistent manifest's entries do not build a manifest")
        }
        try require(rebuilt.root == manifest.root && rebuilt.count == manifest.count,
                    "the rebuilt manifest has another root or count")
        try require(rebuilt.noteText == manifest.noteText, "the rebuilt manifest has another note text")
    }
    return .checked
}

/// The signing key of golang.org/x/mod's `PeterNeumann` test note (the seed is published in
/// `Tests/Vectors/signed-note-checkpoint/keys.json`), so the corpus holds notes it signed.
let testSigner: NoteSigner = {
    let seed = decodeBase64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")!.dropFirst()
    return try! NoteSigner(name: "PeterNeumann", privateKey: .ed25519(seed: Array(seed)))
}()

/// Signed note: a note that parses gives back its bytes, and no signer name holds a space or a
/// `+` byte. A text signed with the test key opens with it, and changing one byte of the text,
/// anywhere, makes the note not open. The text is the parsed note's text, or the whole input
/// when that does not parse as a note.
func checkSignedNote(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    let key = testSigner.verifier
    let note = try? SignedNote(parsing: input)
    if let note {
        try require(note.bytes == input, "the note does not give back the bytes it was parsed from")
        try require(note.signatures.count == note.signatureLines.count, "a signature line was lost")
        for signature in note.signatures {
            try require(!signature.name.utf8.contains { $0 == 0x20 || $0 == 0x2B },
                        "the signer name '\(signature.name)' holds a space or '+' byte")
        }
        if (try? note.open(with: [key])) != nil { try requireFlipsDoNotOpen(input, textCount: note.text.count, key: key) }
    }
    let text = note?.text ?? input
    guard text.last == 0x0A, let line = try? testSigner.signatureLine(for: text) else { return note == nil ? .rejected : .checked }
    let signed = text + [0x0A] + line + [0x0A]
    guard let reparsed = try? SignedNote(parsing: signed) else {
        // Only a text that is not UTF-8, or holds a control character, may be refused.
        let plain = String(validating: text, as: UTF8.self)
        try require(plain == nil || plain!.unicodeScalars.contains { $0 != "\n" && ($0.value < 0x20 || (0x7F...0x9F).contains($0.value)) },
                    "a signed, valid text does not parse as a note")
        return note == nil ? .rejected : .checked
    }
    try require(reparsed.text == text, "the signed note's text is not the text that was signed")
    try require((try? reparsed.open(with: [key])) == [key], "a text signed with the key does not open with it")
    try requireFlipsDoNotOpen(signed, textCount: text.count, key: key)
    return .checked
}

/// Changes a few bytes of the text (each alone), the first and last among them, and requires
/// that none of the changed notes opens with `key`.
private func requireFlipsDoNotOpen(_ note: [UInt8], textCount: Int, key: VerifierKey) throws {
    var positions: Set<Int> = [0, textCount - 1]
    for salt in 1...4 { positions.insert(Int(choice(note, salt: UInt64(salt)) % UInt64(textCount))) }
    for position in positions.sorted() {
        var changed = note
        changed[position] ^= UInt8(truncatingIfNeeded: choice(note, salt: UInt64(position)) % 255 + 1)
        let opened = (try? SignedNote(parsing: changed)).flatMap { try? $0.open(with: [key]) }
        try require(opened == nil, "the note still opens after its text byte \(position) changed")
    }
}

/// Verifier keys (signed-note vkeys and witness cosignature keys): a key that parses prints
/// as exactly the text it was parsed from, and that text parses to the same key; a signed-note
/// key's name holds no `+` byte and no space, so every implementation splits it alike.
func checkVerifierKey(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let text = String(validating: input, as: UTF8.self) else { return .rejected }
    var outcome = FuzzTarget.Outcome.rejected
    if let key = try? VerifierKey(parsing: text) {
        try require(key.description == text, "the vkey prints as '\(key.description)', not as the text parsed")
        try require((try? VerifierKey(parsing: key.description)) == key, "the printed vkey parses to another key")
        // Byte by byte, as other signed-note implementations split a vkey and a signature line.
        try require(!key.name.utf8.contains(0x2B) && !key.name.unicodeScalars.contains { $0.properties.isWhitespace },
                    "the key name '\(key.name)' holds a '+' or a space")
        outcome = .checked
    }
    if let key = try? CosignatureKey(parsing: text) {
        try require(key.description == text, "the witness key prints as '\(key.description)', not as the text parsed")
        try require((try? CosignatureKey(parsing: key.description)) == key, "the printed witness key parses to another key")
        outcome = .checked
    }
    return outcome
}

/// Trust policy: rendering a policy and parsing that gives an equal policy, rendering is
/// stable, and every date it accepted is digits in the form YYYY-MM-DD (dates are compared as
/// text, so any other character would order them wrongly).
func checkTrustPolicy(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let text = String(validating: input, as: UTF8.self), let policy = try? TrustPolicy(parsing: text) else {
        return .rejected
    }
    let rendered = policy.render()
    guard let again = try? TrustPolicy(parsing: rendered) else {
        throw PropertyViolation("the rendered policy does not parse:\n\(rendered)")
    }
    try require(again == policy, "the rendered policy parses to another policy:\n\(rendered)")
    try require(again.render() == rendered, "rendering is not stable")
    try require(policy.threshold >= 1 && policy.threshold <= policy.keys.count, "the threshold is outside 1…keys")
    for key in policy.keys {
        for day in [key.notBefore, key.notAfter].compactMap({ $0 }) {
            let digits = day.utf8.enumerated().allSatisfy { $0.offset == 4 || $0.offset == 7 ? $0.element == UInt8(ascii: "-") : (48...57).contains($0.element) }
            try require(day.utf8.count == 10 && digits, "the date '\(day)' is not YYYY-MM-DD")
        }
    }
    return .checked
}

/// Per-file and log proofs: a proof that parses renders back to the bytes it was read from,
/// and verifying it ends in findings, not a crash.
func checkFileProof(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let proof = try? FileProof(parsing: input) else { return .rejected }
    try require(proof.render() == input, "the proof does not render back to the bytes it was parsed from")
    // Verification runs on whatever was parsed and must end with findings, not a crash.
    let key = testSigner.verifier
    let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: key)])
    let actual = TreeEntry(path: Array("a".utf8), kind: .file, size: UInt64(proof.index % 3), digest: SHA256.hash(input))
    _ = proof.verify(actual: actual, policy: policy, day: "2026-01-01")
    _ = proof.verify(actual: nil, policy: policy, day: "2026-01-01")
    return .checked
}

/// Log checkpoint: a checkpoint that parses prints a text that parses to the same checkpoint,
/// and that text is a prefix of the input (extension lines follow it).
func checkCheckpoint(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let checkpoint = try? Checkpoint(parsing: input) else { return .rejected }
    try require(input.starts(with: checkpoint.text), "the checkpoint's text is not the start of the input")
    try require((try? Checkpoint(parsing: checkpoint.text)) == checkpoint, "the printed checkpoint parses to another")
    try require(checkpoint.root.count == 32, "the root is not 32 bytes")
    return .checked
}

/// Consistency proof: a proof that parses prints back as the bytes it was parsed from, and
/// checking it against input-derived roots ends in a verdict, not a crash.
func checkConsistencyProof(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let proof = try? ConsistencyProof(parsing: input) else { return .rejected }
    try require(proof.text == input, "the proof does not print back as the bytes it was parsed from")
    try require(proof.hashes.allSatisfy { $0.count == 32 }, "a hash is not 32 bytes")
    let root1 = SHA256.hash(input), root2 = SHA256.hash(root1)
    _ = try? Merkle.verifyConsistency(size1: proof.oldSize, size2: proof.newSize, proof: proof.hashes, root1: root1, root2: root2)
    return .checked
}

/// Entry bundles and tile paths: a bundle that decodes encodes back to its bytes; the tiles
/// written for the decoded entries hold them, in order; and a tile path names its index.
func checkEntryBundle(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    var reader = InputReader(input)
    let index = reader.number(bytes: 8), level = Int(reader.byte() % 8), width = Int(reader.byte())
    try checkTilePath(TileLog.tilePath(level: level, index: index, width: width == 0 ? TileLog.width : width),
                      prefix: "tile/\(level)/", index: index, width: width)
    try checkTilePath(TileLog.entriesPath(index: index, width: width == 0 ? TileLog.width : width),
                      prefix: "tile/entries/", index: index, width: width)

    guard let entries = try? TileLog.decodeBundle(reader.rest()) else { return .rejected }
    var encoded: [UInt8] = []
    for entry in entries { encoded += [UInt8(entry.count >> 8), UInt8(entry.count & 0xFF)] + entry }
    try require(encoded == Array(input.dropFirst(10)), "the bundle does not encode back to its bytes")

    // Files for an append from an input-derived old size; each bundle holds its own entries.
    let oldSize = entries.isEmpty ? 0 : Int(index % UInt64(entries.count + 1))
    let files = TileLog.files(entries: entries, leafHashes: entries.map { Merkle.leafHash($0) }, oldSize: oldSize)
    // An append rewrites the old size's partial bundle, if any, and writes every later one.
    var seen = oldSize == entries.count ? oldSize : oldSize / TileLog.width * TileLog.width
    for file in files where file.path.hasPrefix("tile/entries/") {
        guard let bundle = try? TileLog.decodeBundle(file.bytes) else { throw PropertyViolation("\(file.path) does not decode") }
        try require(Array(entries[seen..<min(seen + bundle.count, entries.count)]) == bundle, "\(file.path) holds other entries")
        seen += bundle.count
    }
    try require(seen == entries.count, "the bundles hold \(seen) entries, not \(entries.count)")
    return .checked
}

/// `tile/…/x001/x234/567[.p/W]`: the groups read back as `index`, and the partial suffix is there
/// exactly for a width below 256.
private func checkTilePath(_ path: String, prefix: String, index: UInt64, width: Int) throws {
    try require(path.hasPrefix(prefix), "'\(path)' does not start with '\(prefix)'")
    var rest = path.dropFirst(prefix.count)
    let partial = width != 0 && width < TileLog.width
    if partial {
        try require(rest.hasSuffix(".p/\(width)"), "'\(path)' lacks the partial width")
        rest = rest.dropLast(".p/\(width)".count)
    }
    let groups = rest.split(separator: "/", omittingEmptySubsequences: false)
    var value: UInt64 = 0
    for (n, group) in groups.enumerated() {
        let digits = n < groups.count - 1 ? group.dropFirst() : group
        try require((n < groups.count - 1) == group.hasPrefix("x") && digits.count == 3 && digits.allSatisfy(\.isASCII),
                    "'\(path)' has a malformed group '\(group)'")
        guard let number = UInt64(digits) else { throw PropertyViolation("'\(path)' has a malformed group") }
        value = value &* 1000 &+ number
    }
    try require(value == index, "'\(path)' names index \(value), not \(index)")
}

/// Witness: the state a witness keeps is a checkpoint, and it refuses to move from that state
/// to a smaller tree, another origin, the same size with another root, or a larger tree without
/// a consistency proof that verifies. Input: old state, NUL, new checkpoint, NUL, proof.
func checkWitness(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    let fields = parts(input, 3)
    guard fields.count >= 2, let old = try? Checkpoint(parsing: fields[0]), let new = try? Checkpoint(parsing: fields[1]) else {
        return .rejected
    }
    let proof = fields.count == 3 ? try? ConsistencyProof(parsing: fields[2]) : nil
    let refusal = checkConsistency(old: old, new: new, proof: proof)
    try require(checkConsistency(old: old, new: old, proof: nil) == nil, "a witness refuses the checkpoint it holds")
    guard refusal == nil else { return .checked }
    try require(old.origin == new.origin, "a witness accepted another log's checkpoint")
    try require(new.size >= old.size, "a witness accepted a rollback")
    if new.size == old.size {
        try require(old.root == new.root, "a witness accepted a split view")
    } else if old.size > 0 {
        guard let proof else { throw PropertyViolation("a witness accepted a larger tree without a proof") }
        try require(proof.oldSize == old.size && proof.newSize == new.size, "a witness accepted a proof for other sizes")
        try require((try? Merkle.verifyConsistency(size1: old.size, size2: new.size, proof: proof.hashes,
                                                   root1: old.root, root2: new.root)) != nil,
                    "a witness accepted a proof that does not verify")
    }
    return .checked
}

/// Build recipes: a recipe that parses stays within its bounds, names each artifact once as a
/// plain relative path, and has at least one `run` line, each line number inside the text.
func checkRecipe(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let recipe = try? Recipe(parsing: input) else { return .rejected }
    try require(input.count <= Recipe.maxSize, "a recipe of \(input.count) bytes parsed, over the bound")
    try require(!recipe.commands.isEmpty && !recipe.artifacts.isEmpty, "a recipe without a run or an artifact parsed")
    try require(Set(recipe.artifacts).count == recipe.artifacts.count, "an artifact is named twice")
    let lines = input.split(separator: 0x0A, omittingEmptySubsequences: false).count
    for name in recipe.artifacts {
        let parts = name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        try require(!name.isEmpty && name.first != UInt8(ascii: "/") && !parts.contains { $0.isEmpty || $0.elementsEqual([0x2E]) || $0.elementsEqual([0x2E, 0x2E]) },
                    "the artifact '\(Escaping.escape(name))' is not a plain relative path")
        try require((1...lines).contains(recipe.artifactLines[name] ?? 0), "an artifact's line is outside the text")
    }
    for command in recipe.commands { try require((1...lines).contains(command.line), "a run line's number is outside the text") }
    return .checked
}

/// Rebuild attestations: one that parses is made again, byte for byte, from its parsed values
/// (so every rule lives in the parser, and nothing parsed is dropped), and its status words
/// agree with its digests.
func checkRebuildAttestation(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    guard let attestation = try? RebuildAttestation(parsing: input) else { return .rejected }
    try require(attestation.text == input, "the attestation keeps other bytes than it read")
    let listed = attestation.artifacts.map { Artifact(name: $0.name, size: 0, sha256: $0.signed) }
    var rebuilt: [[UInt8]: [UInt8]] = [:]
    for outcome in attestation.artifacts { rebuilt[outcome.name] = outcome.rebuilt }
    guard let again = try? RebuildAttestation.make(origin: attestation.origin, root: attestation.root, listed: listed,
                                                   recipePath: attestation.recipePath, recipeSHA256: attestation.recipeSHA256,
                                                   environment: attestation.requires, rebuilt: rebuilt) else {
        throw PropertyViolation("a parsed attestation cannot be made again from its values")
    }
    try require(again.text == input, "the attestation made again from its values differs from the one parsed")
    return .checked
}

import ArgumentParser
import Foundation
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit

/// `glassbox log`: an append-only transparency log of signed releases, as static tlog-tiles files.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "A transparency log of releases (C2SP tlog-tiles on disk).",
        subcommands: [Init.self, Add.self, Prove.self, Consistency.self, Verify.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty log signed by the log key.")
        @Argument(help: "The log directory.", completion: .directory) var dir: String
        @Option(name: .long, help: "The log's origin, e.g. transparency.example/releases.") var origin: String
        @Option(name: .long, help: "The log's signing key (its name comes from the .pub beside it).", completion: .file()) var key: String
        @Option(name: .long, help: "The file holding the log key's passphrase.", completion: .file()) var passphraseFile: String?

        func run() throws {
            try runReportingFailures {
                let store = LogStore(dir)
                guard !FileManager.default.fileExists(atPath: store.checkpointPath) else {
                    throw UserError("\(dir) already holds a log", hint: "use `glassbox log add` to append")
                }
                let signer = try loadSigner(keyPath: key, name: nil, passphraseFile: passphraseFile)
                try FileManager.default.createDirectory(atPath: store.configDirectory, withIntermediateDirectories: true)
                let keyPath = URL(fileURLWithPath: key).standardizedFileURL.path
                try store.writeDurably(Array("origin \(origin)\nkey \(keyPath)\nvkey \(signer.verifier)\n".utf8), to: ".glassbox/config")
                try store.locked {
                    try store.sign(Checkpoint(origin: origin, size: 0, root: Merkle.emptyRoot), signer: signer,
                                   record: try store.signedCheckpoints() ?? SignedCheckpoints(parsing: []))
                }
                say("glassbox: log \(origin) created in \(dir); log key \(signer.verifier)\n")
                return Exit.verified
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append signed manifests or rebuild attestations and publish a new checkpoint.")
        @Argument(help: "The log directory.", completion: .directory) var dir: String
        @Argument(help: "Signed manifests, or signed rebuild attestations.", completion: .file()) var manifests: [String]
        @Option(name: .long, help: "The file holding the log key's passphrase.", completion: .file()) var passphraseFile: String?

        func run() throws {
            try runReportingFailures {
                let store = LogStore(dir)
                return try store.locked {
                    let signer = try store.signer(passphraseFile: passphraseFile)
                    let (start, startEntries, record) = try store.resume(signer: signer)
                    var entries = startEntries
                    var leafHashes = entries.map { Merkle.leafHash($0) }
                    let oldSize = entries.count
                    for path in manifests {
                        let (entry, label) = try logEntry(path)
                        guard entry.count <= 65_535 else { throw UserError("\(path): the note text is longer than a log entry may be") }
                        if let index = entries.firstIndex(of: entry) {
                            say("glassbox: \(path) (\(Display.field(label))) is already in the log at index \(index)\n")
                            continue
                        }
                        entries.append(entry)
                        leafHashes.append(Merkle.leafHash(entry))
                        say("glassbox: \(path) (\(Display.field(label))) added at index \(entries.count - 1)\n")
                    }
                    if entries.count == oldSize { return Exit.verified }
                    for file in TileLog.files(entries: entries, leafHashes: leafHashes, oldSize: oldSize) {
                        try store.writeDurably(file.bytes, to: file.path)
                    }
                    let checkpoint = Checkpoint(origin: start.origin, size: UInt64(entries.count), root: Merkle.root(leafHashes: leafHashes))
                    try store.sign(checkpoint, signer: signer, record: record)
                    say("glassbox: checkpoint \(checkpoint.summary)\n")
                    return Exit.verified
                }
            }
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an inclusion proof (tlog-proof@v1) for a manifest or rebuild attestation, with the checkpoint.")
        @Argument(help: "The log directory.", completion: .directory) var dir: String
        @Argument(help: "The manifest, or rebuild attestation.", completion: .file()) var manifest: String
        @Option(name: [.customShort("o"), .long], help: "Write here instead of stdout.", completion: .file()) var output: String?
        @Option(name: .long, parsing: .upToNextOption, help: "Files of witness cosignature lines to add to the checkpoint.", completion: .file())
        var cosignatures: [String] = []

        func run() throws {
            try runReportingFailures {
                let store = LogStore(dir)
                let signer = try store.vkey()
                let (_, entries) = try store.load(verifyingWith: signer)
                let entry = try logEntry(manifest).entry
                guard let index = entries.firstIndex(of: entry) else {
                    throw UserError("\(manifest) is not in the log", hint: "add it with `glassbox log add`")
                }
                let hashes = Merkle.inclusionProof(index: index, leafHashes: entries.map { Merkle.leafHash($0) })
                var note = try readFile(store.checkpointPath)
                for file in cosignatures {
                    for line in try readFile(file).split(separator: 0x0A) where line.starts(with: Manifest.signaturePrefix) {
                        note += line + [0x0A]
                    }
                }
                let proof = FileProof(entryLine: entry, index: UInt64(index), hashes: hashes, note: try SignedNote(parsing: note))
                try writeOutput(proof.renderWithoutExtra(), to: output)
                return Exit.verified
            }
        }
    }

    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a consistency proof from an older size to the current checkpoint.")
        @Argument(help: "The log directory.", completion: .directory) var dir: String
        @Option(name: .long, help: "The older tree size.") var from: UInt64
        @Option(name: [.customShort("o"), .long], help: "Write here instead of stdout.", completion: .file()) var output: String?

        func run() throws {
            try runReportingFailures {
                let store = LogStore(dir)
                let (checkpoint, entries) = try store.load(verifyingWith: try store.vkey())
                guard from >= 1, from <= checkpoint.size else {
                    throw UserError("--from \(from) is not between 1 and the log's size \(checkpoint.size)")
                }
                let hashes = Merkle.consistencyProof(size1: Int(from), leafHashes: entries.map { Merkle.leafHash($0) })
                try writeOutput(ConsistencyProof(oldSize: from, newSize: checkpoint.size, hashes: hashes).text, to: output)
                return Exit.verified
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recompute every tile and the root from the entries; check the checkpoint signature.")
        @Argument(help: "The log directory.", completion: .directory) var dir: String
        @Option(name: .long, help: "The log's verifier key (default: the one the log was created with).", completion: .file()) var logKey: String?
        @OptionGroup var colorOptions: ColorOptions

        func run() throws {
            try runReportingFailures {
                let store = LogStore(dir)
                let vkey = try logKey.map(readLogKey) ?? (try store.vkey())
                let checkpoint: Checkpoint, entries: [[UInt8]]
                do { (checkpoint, entries) = try store.load(verifyingWith: vkey) } catch let failure as VerificationFailure {
                    say("glassbox: log FAILED: \(failure.message)\n")
                    return Exit.failed
                }
                var problems = store.problems(entries: entries, root: checkpoint.root)
                if let record = try store.signedCheckpoints(), case .failure(let refusal) = record.start(from: checkpoint) {
                    problems.append(refusal.description)
                }
                if problems.isEmpty {
                    sayReport("glassbox: log verified: \(checkpoint.summary), signed by \(vkey.name)\n", passed: true, colorOptions.painter)
                    return Exit.verified
                }
                sayReport("glassbox: log FAILED: " + problems.joined(separator: "\n  ") + "\n", passed: false, colorOptions.painter)
                return Exit.failed
            }
        }
    }
}


/// What a log entry is for a file given to `log add` or `log prove`: a signed manifest's note
/// text or, for a file that starts as a rebuild attestation does, the attestation's note text;
/// and how to name it. Only signed statements are logged.
private func logEntry(_ path: String) throws -> (entry: [UInt8], label: String) {
    let header = Array((RebuildAttestation.header + "\n").utf8)
    // Only the first line is peeked at: a manifest may be far larger than an attestation.
    let handle = FileHandle(forReadingAtPath: path)
    let head = (try? handle?.read(upToCount: header.count)).flatMap { $0 }
    try? handle?.close()
    if let head, [UInt8](head) == header {
        do {
            let input = try AttestationInput(parsing: try readFile(path, limit: AttestationInput.maxSize), source: path)
            return (input.note.text, "rebuild of \(input.attestation.origin)")
        } catch let error as FormatError {
            throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                            hint: "a rebuild attestation is described line by line in Manifests/FORMAT.md")
        } catch let error as NoteError {
            throw UserError("\(path): not a signed rebuild attestation: \(error)", hint: "sign it with `glassbox attest-rebuild --key`")
        }
    }
    let manifest = try loadManifest(path)
    guard !manifest.signatureLines.isEmpty else {
        throw UserError("\(path) is not signed; the log takes only signed releases", hint: "sign it with `glassbox sign`")
    }
    do { try manifest.checkConsistency() } catch let error as FormatError {
        throw UserError("\(path):\(error.line ?? 0): \(error.message)")
    }
    return (manifest.noteText, manifest.header.origin)
}

extension FileProof {
    /// tlog-proof@v1 with no extra line: the entry is the manifest the reviewer already holds.
    func renderWithoutExtra() -> [UInt8] {
        let lines = [FileProof.header, "index \(index)"] + hashes.map(base64)
        return Array((lines.joined(separator: "\n") + "\n\n").utf8) + note.bytes
    }
}

/// A log directory: files written durably, appends serialised by a lock.
struct LogStore {
    let dir: String
    init(_ dir: String) { self.dir = dir }

    var configDirectory: String { dir + "/.glassbox" }
    var configPath: String { configDirectory + "/config" }
    var checkpointPath: String { path("checkpoint") }
    func path(_ relative: String) -> String { dir + "/" + relative }

    private func config() throws -> [String: String] {
        guard let text = FileManager.default.contents(atPath: configPath).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw UserError("\(dir) is not a log (no .glassbox/config)", hint: "create one with `glassbox log init`")
        }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = String(parts[1]) }
        }
        return out
    }

    func vkey() throws -> VerifierKey { try parseVKey(try config()["vkey"] ?? "", configPath) }

    func signer(passphraseFile: String?) throws -> NoteSigner {
        let signer = try loadSigner(keyPath: try config()["key"] ?? "", name: nil, passphraseFile: passphraseFile)
        guard signer.verifier == (try vkey()) else { throw UserError("the log key has changed since the log was created") }
        return signer
    }

    var recordPath: String { configDirectory + "/signed-checkpoints" }

    /// The current checkpoint, its signature checked, and every entry it covers.
    func load(verifyingWith key: VerifierKey) throws -> (Checkpoint, [[UInt8]]) {
        let checkpoint = try loadCheckpoint(verifyingWith: key)
        return (checkpoint, try loadEntries(size: checkpoint.size))
    }

    func loadCheckpoint(verifyingWith key: VerifierKey) throws -> Checkpoint {
        let note: SignedNote
        do { note = try SignedNote(parsing: try readFile(checkpointPath)) } catch let error as NoteError {
            throw UserError("\(checkpointPath): \(error)")
        }
        try openCheckpoint(note, path: checkpointPath, key: key,
                           keyHint: "check --log-key (without it, `glassbox log verify` uses the key in \(configPath))")
        return try Checkpoint(parsing: note.text)
    }

    /// The first `size` entries, from the entry bundles.
    func loadEntries(size: UInt64) throws -> [[UInt8]] {
        var entries: [[UInt8]] = []
        var t: UInt64 = 0
        while UInt64(entries.count) < size {
            let width = Int(min(UInt64(TileLog.width), size - t * UInt64(TileLog.width)))
            let file = path(TileLog.entriesPath(index: t, width: width))
            // Data the checkpoint covers that is gone or cut short is a failed check, as a changed tile is.
            guard let bytes = FileManager.default.contents(atPath: file) else { throw VerificationFailure("\(file) is missing") }
            let bundle = try TileLog.decodeBundle([UInt8](bytes))
            guard bundle.count == width else { throw VerificationFailure("\(file) holds \(bundle.count) entries, not \(width)") }
            entries += bundle
            t += 1
        }
        return entries
    }

    /// What on disk differs from the tree of `entries` with root `root`: the root, and every
    /// tile and entry bundle. Empty when the stored data reproduces that tree.
    func problems(entries: [[UInt8]], root: [UInt8]) -> [String] {
        let leafHashes = entries.map { Merkle.leafHash($0) }
        var problems: [String] = []
        let computed = Merkle.root(leafHashes: leafHashes)
        if !constantTimeEquals(computed, root) {
            problems.append("the entries hash to \(base64(computed)), not the checkpoint's root \(base64(root))")
        }
        for file in TileLog.files(entries: entries, leafHashes: leafHashes, oldSize: 0) {
            let onDisk = FileManager.default.contents(atPath: path(file.path)).map { [UInt8]($0) }
            if onDisk != file.bytes { problems.append("\(file.path) is \(onDisk == nil ? "missing" : "not what the entries give")") }
        }
        return problems
    }

    /// The record of signed checkpoints, or nil for a log made before it was kept (or one
    /// whose first record line a crash cut short).
    func signedCheckpoints() throws -> SignedCheckpoints? {
        guard FileManager.default.fileExists(atPath: recordPath) else { return nil }
        do {
            let record = try SignedCheckpoints(parsing: try readFile(recordPath))
            return record.records.isEmpty ? nil : record
        } catch let error as FormatError {
            throw UserError("\(recordPath):\(error.line ?? 0): \(error.message)",
                            hint: "the log keeps there every checkpoint it signed; restore it from a backup")
        }
    }

    /// Before an append: the newest checkpoint this log signed and the entries it covers, once
    /// the stored data is shown to reproduce it. Finishes an append a crash interrupted after
    /// its checkpoint was recorded (publishing that same tree); refuses a rolled-back
    /// checkpoint file and data that no longer hash to what was signed.
    func resume(signer: NoteSigner) throws -> (Checkpoint, [[UInt8]], SignedCheckpoints) {
        let current = try loadCheckpoint(verifyingWith: signer.verifier)
        guard let record = try signedCheckpoints() else {
            // A log from before the record: start it from the checkpoint, if the data agree.
            let entries = try loadEntries(size: current.size)
            try requireReproduces(entries: entries, current)
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            let record = SignedCheckpoints.Record(published: true, size: current.size, root: current.root)
            try OutputFile.appendDurably(record.line, to: recordPath, keepingFirst: 0)
            printError("glassbox: started \(recordPath) at \(current.summary)\n")
            return (current, entries, try SignedCheckpoints(parsing: record.line))
        }
        let newest: SignedCheckpoints.Record
        switch record.start(from: current) {
        case .success(let record): newest = record
        case .failure(let refusal):
            throw VerificationFailure("\(dir): \(refusal)",
                                      hint: "restore the newest checkpoint the log signed (see \(recordPath)); appending now could sign a fork")
        }
        let checkpoint = Checkpoint(origin: current.origin, size: newest.size, root: newest.root)
        let entries = try loadEntries(size: checkpoint.size)
        try requireReproduces(entries: entries, checkpoint)
        if current.size != newest.size || !newest.published {
            try sign(checkpoint, signer: signer, record: record)
            return (checkpoint, entries, try signedCheckpoints() ?? record)
        }
        return (checkpoint, entries, record)
    }

    private func requireReproduces(entries: [[UInt8]], _ checkpoint: Checkpoint) throws {
        let problems = problems(entries: entries, root: checkpoint.root)
        guard problems.isEmpty else {
            throw VerificationFailure("\(dir): the stored data does not reproduce the last checkpoint this log signed (\(checkpoint.summary)): "
                                      + problems.joined(separator: "; "),
                                      hint: "restore the changed files from a backup (`glassbox log verify` lists them); the log will not sign a tree that does not extend the one it signed")
        }
    }

    /// Records, signs and publishes a checkpoint: the last step of an append, after every file
    /// it covers is on disk. The record is fsynced before the checkpoint can be seen, so no
    /// signed checkpoint ever goes unrecorded; signing the same tree again is allowed.
    func sign(_ checkpoint: Checkpoint, signer: NoteSigner, record: SignedCheckpoints) throws {
        if let refusal = record.refusalToSign(checkpoint) {
            throw VerificationFailure("\(dir): \(refusal)", hint: "the log never signs two trees of one size")
        }
        let signed = SignedCheckpoints.Record(published: false, size: checkpoint.size, root: checkpoint.root)
        try OutputFile.appendDurably(signed.line, to: recordPath, keepingFirst: record.wholeLength)
        let text = checkpoint.text
        let note = text + [0x0A] + (try signer.signatureLine(for: text)) + [0x0A]
        try writeDurably(note, to: "checkpoint")
        var published = signed
        published.published = true
        try OutputFile.appendDurably(published.line, to: recordPath, keepingFirst: record.wholeLength + signed.line.count)
    }

    /// Writes a file through a temporary file, fsyncs it and its directory, and renames it into
    /// place, so a crash leaves either the old file or the whole new one.
    func writeDurably(_ bytes: [UInt8], to relative: String) throws {
        let full = path(relative)
        let directory = URL(fileURLWithPath: full).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // These files belong to the log: whatever is at the path is replaced, a symlink is
        // never followed.
        try OutputFile.replace(full) { sink in try sink(bytes) }
    }

    /// Runs `body` holding an exclusive lock on the log, so appends from several processes queue.
    func locked<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        return try FileLock.holding(configDirectory + "/lock", body)
    }
}

// MARK: - Bad input (exit 2) and failed checks (exit 1)

/// A check that ran to its end and failed: a signature by the named key that does not verify, a
/// log whose stored data no longer reproduces what it signed, a fork. Printed like an error, but
/// the exit code is 1, not 2: the input was well-formed, and what it says is false. A script can
/// then tell an alarm from a wrong file name.
struct VerificationFailure: Error {
    var message: String
    var hint: String?
    init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}

/// `runReporting`, with `VerificationFailure` reported as `glassbox: error: …` and exit 1.
func runReportingFailures(_ body: () throws -> Int32) throws {
    try runReporting {
        do { return try body() } catch let failure as VerificationFailure {
            printError("glassbox: error: \(failure.message)\n")
            if let hint = failure.hint { printError("glassbox: hint: \(hint)\n") }
            return Exit.failed
        }
    }
}

/// A verifier key as people write it: `name+keyid`, the key itself left out.
func keyLabel(_ name: String, _ keyID: UInt32) -> String {
    let hex = String(keyID, radix: 16)
    return "\(name)+\(String(repeating: "0", count: 8 - hex.count))\(hex)"
}

/// Opens a checkpoint with the log's key, telling bad input from a failed check.
/// - Throws: `UserError` (exit 2) when no signature line is by `key` at all, which means the
///   wrong key or the wrong file: the error names the keys that did sign. `VerificationFailure`
///   (exit 1) when the key's signature is there and does not verify.
func openCheckpoint(_ note: SignedNote, path: String, key: VerifierKey, keyHint: String) throws {
    do { _ = try note.open(with: [key]) } catch SignedNote.OpenError.invalidSignature {
        throw VerificationFailure("\(path): the signature by the log key \(keyLabel(key.name, key.keyID)) does not verify: "
                                  + "the checkpoint is not what that key signed")
    } catch {
        let carried = note.signatures.map { keyLabel($0.name, $0.keyID) }.joined(separator: ", ")
        throw UserError("\(path): no signature by the log key \(keyLabel(key.name, key.keyID)); it is signed by \(carried)", hint: keyHint)
    }
}

/// The log's verifier key given to `--log-key`: a .pub file or vkey text. A private key, a
/// witness key or anything else is named for what it is.
func readLogKey(_ item: String) throws -> VerifierKey {
    let (text, fromFile) = try keyText(item)
    let hint = "--log-key takes the log's verifier key: the .pub beside the log's key, or the vkey line of LOG/.glassbox/config"
    if text.hasPrefix("-----BEGIN") {
        throw UserError("\(item): a PEM file (\(text.contains("PRIVATE KEY") ? "a private key" : "not a verifier key")), not the log's verifier key", hint: hint)
    }
    if (try? CosignatureKey(parsing: text)) != nil {
        throw UserError("\(item): a witness's cosignature key, not the log's verifier key", hint: hint)
    }
    do { return try VerifierKey(parsing: text) } catch {
        throw UserError("\(item)\(fromFile ? ":1" : ""): \(error)", hint: hint)
    }
}

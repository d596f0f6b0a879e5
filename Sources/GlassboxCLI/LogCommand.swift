import ArgumentParser
import Foundation
import Glassbox
import GlassboxCrypto

/// `glassbox log`: an append-only transparency log of signed releases, as static tlog-tiles files.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "A transparency log of releases (C2SP tlog-tiles on disk).",
        subcommands: [Init.self, Add.self, Prove.self, Consistency.self, Verify.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty log signed by the log key.")
        @Argument(help: "The log directory.") var dir: String
        @Option(name: .long, help: "The log's origin, e.g. transparency.example/releases.") var origin: String
        @Option(name: .long, help: "The log's signing key (its name comes from the .pub beside it).") var key: String

        func run() throws {
            try runReporting {
                let store = LogStore(dir)
                guard !FileManager.default.fileExists(atPath: store.checkpointPath) else {
                    throw UserError("\(dir) already holds a log", hint: "use `glassbox log add` to append")
                }
                let signer = try loadSigner(keyPath: key, name: nil, passphraseFile: nil)
                try FileManager.default.createDirectory(atPath: store.configDirectory, withIntermediateDirectories: true)
                let keyPath = URL(fileURLWithPath: key).standardizedFileURL.path
                try writeOutput(Array("origin \(origin)\nkey \(keyPath)\nvkey \(signer.verifier)\n".utf8), to: store.configPath)
                try store.publish(Checkpoint(origin: origin, size: 0, root: Merkle.emptyRoot), signer: signer)
                print("glassbox: log \(origin) created in \(dir); log key \(signer.verifier)")
                return Exit.verified
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append signed manifests and publish a new checkpoint.")
        @Argument(help: "The log directory.") var dir: String
        @Argument(help: "Signed manifests.") var manifests: [String]

        func run() throws {
            try runReporting {
                let store = LogStore(dir)
                return try store.locked {
                    let signer = try store.signer()
                    var (checkpoint, entries) = try store.load(verifyingWith: signer.verifier)
                    var leafHashes = entries.map { Merkle.leafHash($0) }
                    let oldSize = entries.count
                    for path in manifests {
                        let manifest = try loadManifest(path)
                        guard !manifest.signatureLines.isEmpty else {
                            throw UserError("\(path) is not signed; the log takes only signed releases", hint: "sign it with `glassbox sign`")
                        }
                        do { try manifest.checkConsistency() } catch let error as FormatError {
                            throw UserError("\(path):\(error.line ?? 0): \(error.message)")
                        }
                        let entry = manifest.noteText
                        guard entry.count <= 65_535 else { throw UserError("\(path): the note text is longer than a log entry may be") }
                        if let index = entries.firstIndex(of: entry) {
                            print("glassbox: \(path) (\(manifest.header.origin)) is already in the log at index \(index)")
                            continue
                        }
                        entries.append(entry)
                        leafHashes.append(Merkle.leafHash(entry))
                        print("glassbox: \(path) (\(manifest.header.origin)) added at index \(entries.count - 1)")
                    }
                    if entries.count == oldSize { return Exit.verified }
                    for file in TileLog.files(entries: entries, leafHashes: leafHashes, oldSize: oldSize) {
                        try store.writeDurably(file.bytes, to: file.path)
                    }
                    checkpoint = Checkpoint(origin: checkpoint.origin, size: UInt64(entries.count), root: Merkle.root(leafHashes: leafHashes))
                    try store.publish(checkpoint, signer: signer)
                    print("glassbox: checkpoint \(checkpoint.summary)")
                    return Exit.verified
                }
            }
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an inclusion proof (tlog-proof@v1) for a manifest, with the checkpoint.")
        @Argument(help: "The log directory.") var dir: String
        @Argument(help: "The manifest.") var manifest: String
        @Option(name: [.customShort("o"), .long], help: "Write here instead of stdout.") var output: String?
        @Option(name: .long, parsing: .upToNextOption, help: "Files of witness cosignature lines to add to the checkpoint.")
        var cosignatures: [String] = []

        func run() throws {
            try runReporting {
                let store = LogStore(dir)
                let signer = try store.vkey()
                let (_, entries) = try store.load(verifyingWith: signer)
                let entry = try loadManifest(manifest).noteText
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
        @Argument(help: "The log directory.") var dir: String
        @Option(name: .long, help: "The older tree size.") var from: UInt64
        @Option(name: [.customShort("o"), .long], help: "Write here instead of stdout.") var output: String?

        func run() throws {
            try runReporting {
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
        @Argument(help: "The log directory.") var dir: String
        @Option(name: .long, help: "The log's verifier key (default: the one the log was created with).") var logKey: String?

        func run() throws {
            try runReporting {
                let store = LogStore(dir)
                let vkey = try logKey.map { try parseVKey(String(decoding: try readFile($0), as: UTF8.self), $0) } ?? (try store.vkey())
                let (checkpoint, entries) = try store.load(verifyingWith: vkey)
                let leafHashes = entries.map { Merkle.leafHash($0) }
                var problems: [String] = []
                if !constantTimeEquals(Merkle.root(leafHashes: leafHashes), checkpoint.root) {
                    problems.append("the entries hash to \(base64(Merkle.root(leafHashes: leafHashes))), not the checkpoint's root")
                }
                for file in TileLog.files(entries: entries, leafHashes: leafHashes, oldSize: 0) {
                    let onDisk = FileManager.default.contents(atPath: store.path(file.path)).map { [UInt8]($0) }
                    if onDisk != file.bytes { problems.append("\(file.path) is \(onDisk == nil ? "missing" : "not what the entries give")") }
                }
                if problems.isEmpty {
                    print("glassbox: log verified: \(checkpoint.summary), signed by \(vkey.name)")
                    return Exit.verified
                }
                print("glassbox: log FAILED: " + problems.joined(separator: "\n  "))
                return Exit.failed
            }
        }
    }
}

func parseVKey(_ text: String, _ file: String) throws -> VerifierKey {
    do { return try VerifierKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
        throw UserError("\(file):1: \(error)")
    }
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

    func signer() throws -> NoteSigner {
        let signer = try loadSigner(keyPath: try config()["key"] ?? "", name: nil, passphraseFile: nil)
        guard signer.verifier == (try vkey()) else { throw UserError("the log key has changed since the log was created") }
        return signer
    }

    /// The current checkpoint, its signature checked, and every entry it covers.
    func load(verifyingWith key: VerifierKey) throws -> (Checkpoint, [[UInt8]]) {
        let note: SignedNote
        do { note = try SignedNote(parsing: try readFile(checkpointPath)) } catch let error as NoteError {
            throw UserError("\(checkpointPath): \(error)")
        }
        do { _ = try note.open(with: [key]) } catch {
            throw UserError("\(checkpointPath): the checkpoint is not signed by the log key \(key.name)")
        }
        let checkpoint = try Checkpoint(parsing: note.text)
        var entries: [[UInt8]] = []
        var t: UInt64 = 0
        while UInt64(entries.count) < checkpoint.size {
            let width = Int(min(UInt64(TileLog.width), checkpoint.size - t * UInt64(TileLog.width)))
            let file = path(TileLog.entriesPath(index: t, width: width))
            guard let bytes = FileManager.default.contents(atPath: file) else { throw UserError("\(file) is missing") }
            let bundle = try TileLog.decodeBundle([UInt8](bytes))
            guard bundle.count == width else { throw UserError("\(file) holds \(bundle.count) entries, not \(width)") }
            entries += bundle
            t += 1
        }
        return (checkpoint, entries)
    }

    /// Signs and publishes a checkpoint: the last step of an append, after every file it covers is on disk.
    func publish(_ checkpoint: Checkpoint, signer: NoteSigner) throws {
        let text = checkpoint.text
        let note = text + [0x0A] + (try signer.signatureLine(for: text)) + [0x0A]
        try writeDurably(note, to: "checkpoint")
    }

    /// Writes a file through a temporary file, fsyncs it, renames it into place, and fsyncs the
    /// directory, so a crash leaves either the old file or the whole new one.
    func writeDurably(_ bytes: [UInt8], to relative: String) throws {
        let full = path(relative)
        let directory = URL(fileURLWithPath: full).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeOutput(bytes, to: full)
        let fd = open(directory, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// Runs `body` holding an exclusive lock on the log, so appends from several processes queue.
    func locked<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        let fd = open(configDirectory + "/lock", O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw FileError(path: configDirectory + "/lock", message: "cannot open the lock") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw FileError(path: configDirectory + "/lock", message: "cannot lock") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

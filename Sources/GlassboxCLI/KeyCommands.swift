import ArgumentParser
import Foundation
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit

/// `glassbox keygen`: a new signing key and its C2SP verifier key.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (C2SP verifier key).")

    @Option(name: .long, help: "The key name, ideally a schema-less URL such as vendor.example/release-2026.")
    var name: String

    @Option(name: [.customShort("o"), .long], help: "The output prefix.", completion: .file())
    var output: String

    @Option(name: .long, help: "ed25519 (default) or ecdsa-p256.", completion: .list(SignatureAlgorithm.allCases.map(\.rawValue)))
    var algorithm: String = SignatureAlgorithm.ed25519.rawValue

    @Option(name: .long, help: "Encrypt the private key with the first line of this file.", completion: .file())
    var passphraseFile: String?

    @Flag(name: .long, help: "Replace existing key files.")
    var force = false

    @Flag(name: .long, help: "A witness key: Ed25519, its .pub a C2SP cosignature (type 0x04) verifier key.")
    var witness = false

    func run() throws {
        try runReporting {
            guard let algorithm = SignatureAlgorithm(rawValue: algorithm) else {
                throw UserError("unknown algorithm '\(self.algorithm)'", hint: "use ed25519 or ecdsa-p256")
            }
            for path in [output + ".key", output + ".pub"] where FileManager.default.fileExists(atPath: path) && !force {
                throw UserError("\(path) already exists", hint: "choose another prefix, or pass --force to replace it")
            }
            if witness && algorithm != .ed25519 { throw UserError("witness keys are Ed25519 (tlog-cosignature/v1)") }
            let key = try PrivateKey.generate(algorithm)
            let vkey = witness ? try Witness(name: name, privateKey: key).key.description
                : try NoteSigner(name: name, privateKey: key).verifier.description
            try writeOutput(try key.pkcs8PEM(passphrase: try readPassphrase(passphraseFile)), to: output + ".key", mode: 0o600)
            try writeOutput(Array("\(vkey)\n".utf8), to: output + ".pub", mode: 0o644)
            say("\(vkey)\n")
            return Exit.verified
        }
    }
}

/// Loads a signing key; its name comes from `--name` or the `.pub` file beside it.
func loadSigner(keyPath: String, name: String?, passphraseFile: String?) throws -> NoteSigner {
    let key: PrivateKey
    do {
        key = try PrivateKey.fromPEM(try readFile(keyPath), passphrase: try readPassphrase(passphraseFile))
    } catch let error as CryptoError {
        throw UserError("\(keyPath): cannot read the private key: \(error.message)",
                        hint: passphraseFile == nil ? "if the key is encrypted, pass --passphrase-file" : "check the passphrase")
    }
    if let name { return try NoteSigner(name: name, privateKey: key) }
    let pubPath = (keyPath.hasSuffix(".key") ? String(keyPath.dropLast(4)) : keyPath) + ".pub"
    guard FileManager.default.fileExists(atPath: pubPath) else {
        throw UserError("no --name given and no \(pubPath) beside the key to take the name from",
                        hint: "pass --name NAME (the key name verifiers will know it by)")
    }
    let text = String(decoding: try readFile(pubPath), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    let vkey: VerifierKey
    do { vkey = try VerifierKey(parsing: text) } catch { throw UserError("\(pubPath):1: \(error)") }
    let signer = try NoteSigner(name: vkey.name, privateKey: key)
    guard signer.verifier == vkey else {
        throw UserError("\(pubPath) is not the public key of \(keyPath)")
    }
    return signer
}

/// `glassbox sign`: add a signature line to a manifest.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Add a C2SP signed-note signature over a manifest's note text (rewrites the file atomically).")

    @Option(name: .long, help: "The private key (PEM).", completion: .file())
    var key: String

    @Option(name: .long, help: "The key name (default: from PREFIX.pub beside the key).")
    var name: String?

    @Option(name: .long, help: "The file holding the key's passphrase.", completion: .file())
    var passphraseFile: String?

    @Argument(help: "The manifest to sign.", completion: .file())
    var file: String

    func run() throws {
        try runReporting {
            let signer = try loadSigner(keyPath: key, name: name, passphraseFile: passphraseFile)
            // Signers may run at once: each takes the lock, reads the manifest as it is now,
            // adds its line and replaces the file, so no signature is lost. A symlink names the
            // file to sign; the lock sits beside that file.
            let target = try OutputFile.resolve(file)
            return try FileLock.holding(target + ".lock") {
                var manifest = try loadManifest(target)
                do { try manifest.checkConsistency() } catch let error as FormatError {
                    throw UserError("\(file):\(error.line ?? 0): \(error.message)", hint: "refusing to sign a manifest whose entries do not match its root")
                }
                let existing = manifest.signatureLines.compactMap { try? NoteSignature(line: $0) }
                if existing.contains(where: { $0.name.utf8.elementsEqual(signer.verifier.name.utf8) && $0.keyID == signer.verifier.keyID }) {
                    printError("glassbox: \(file) is already signed by \(signer.verifier.name); unchanged\n")
                    return Exit.verified
                }
                guard manifest.signatureLines.count < Manifest.maxSignatures else {
                    throw UserError("\(file) already has \(Manifest.maxSignatures) signature lines")
                }
                manifest = manifest.adding(signatureLine: try signer.signatureLine(for: manifest.noteText))
                try writeStreaming(to: target) { sink in try manifest.render(sink) }
                printError("glassbox: signed \(file) as \(signer.verifier.name)+\(String(signer.verifier.description.split(separator: "+")[1]))\n")
                return Exit.verified
            }
        }
    }
}

/// `glassbox checkpoint`: the manifest's standalone signed note.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Print a signed manifest's C2SP signed note (note text, empty line, signatures).")

    @Argument(help: "The manifest.", completion: .file())
    var file: String

    func run() throws {
        try runReporting {
            let manifest = try loadManifest(file)
            guard !manifest.signatureLines.isEmpty else {
                throw UserError("\(file) has no signatures, so it has no signed note", hint: "sign it with `glassbox sign`")
            }
            let note = try SignedNote(text: manifest.noteText, signatureLines: manifest.signatureLines, firstSignatureLine: 0)
            try writeOutput(note.bytes, to: nil)
            return Exit.verified
        }
    }
}

/// `glassbox trust init`: a trust policy from verifier keys.
struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust", abstract: "Trust policies.", subcommands: [Init.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init", abstract: "Write a trust policy: K of the given verifier keys must sign.")

        @Option(name: .long, help: "How many distinct keys must sign.")
        var threshold: Int

        @Option(name: [.customShort("o"), .long], help: "The policy file to write.", completion: .file())
        var output: String

        @Option(name: .long, help: "Origin patterns every key may sign (exact, or a prefix ending in '*'), comma-separated.")
        var origins: String?

        @Argument(help: "Verifier keys: PREFIX.pub files or NAME+KEYID+KEY strings.", completion: .file())
        var keys: [String]

        func run() throws {
            try runReporting {
                var list: [TrustPolicy.Key] = []
                for item in keys {
                    let text = FileManager.default.fileExists(atPath: item)
                        ? String(decoding: try readFile(item), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : item
                    do {
                        list.append(.init(verifier: try VerifierKey(parsing: text),
                                          origins: origins.map { $0.split(separator: ",").map(String.init) } ?? []))
                    } catch { throw UserError("\(item): \(error)") }
                }
                let policy = TrustPolicy(threshold: threshold, keys: list)
                // Round-trip through the parser, so every rule (threshold, duplicates) is checked once.
                do { _ = try TrustPolicy(parsing: policy.render()) } catch let error as FormatError {
                    throw UserError(error.message)
                }
                try writeOutput(Array(policy.render().utf8), to: output, mode: 0o644)
                return Exit.verified
            }
        }
    }
}

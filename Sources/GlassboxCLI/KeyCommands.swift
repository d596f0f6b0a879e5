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

/// `glassbox key`: make a signing key, or derive the verifier key of one made elsewhere.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Signing keys: make one, or derive the verifier key (.pub) of an existing one.",
        subcommands: [Generate.self, Pub.self])

    /// `glassbox key generate`: `glassbox keygen` under the group's name.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", abstract: KeygenCommand.configuration.abstract)
        @OptionGroup var keygen: KeygenCommand
        func run() throws { try keygen.run() }
    }

    /// `glassbox key pub`: the C2SP verifier key of a private key, the same line `key generate`
    /// writes to PREFIX.pub, so a key made with `openssl genpkey` can sign releases too.
    struct Pub: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pub", abstract: "Print the C2SP verifier key of an Ed25519 or ECDSA P-256 private key (PEM).",
            discussion: "The key name comes from --name, or from the PREFIX.pub beside PREFIX.key, which must then match the key.")

        @Argument(help: "The private key (PEM).", completion: .file())
        var key: String

        @Option(name: [.customShort("o"), .long], help: "Write the verifier key here instead of stdout.", completion: .file())
        var output: String?

        @Option(name: .long, help: "The key name, ideally a schema-less URL such as vendor.example/release-2026.")
        var name: String?

        @Option(name: .long, help: "The file holding the key's passphrase.", completion: .file())
        var passphraseFile: String?

        @Flag(name: .long, help: "A witness key: its verifier key is a C2SP cosignature (type 0x04) key.")
        var witness = false

        func run() throws {
            try runReporting {
                let vkey: String
                if witness {
                    if let name {
                        let key = try loadPrivateKey(key, passphraseFile: passphraseFile)
                        guard key.algorithm == .ed25519 else {
                            throw UserError("\(self.key): ECDSA P-256 keys cannot be witness keys; tlog-cosignature/v1 is Ed25519")
                        }
                        vkey = try Witness(name: name, privateKey: key).key.description
                    } else {
                        vkey = try loadWitness(key, passphraseFile: passphraseFile).key.description
                    }
                } else {
                    do { vkey = try loadSigner(keyPath: key, name: name, passphraseFile: passphraseFile).verifier.description }
                    catch let error as NoteError { throw UserError("--name: \(error)") }
                }
                try writeOutput(Array("\(vkey)\n".utf8), to: output, mode: 0o644)
                return Exit.verified
            }
        }
    }
}

/// Reads a private key, the one way every command does: the passphrase of an encrypted key
/// comes from `--passphrase-file`, or is asked for on the terminal (echo off) when a person is
/// there to answer; a script gets an error saying which option to pass.
/// - Throws: `UserError`, one line naming the file and what is wrong with it, and a hint.
func loadPrivateKey(_ keyPath: String, passphraseFile: String?) throws -> PrivateKey {
    let pem = try readFile(keyPath, limit: 1 << 20)
    let passphrase = try readPassphrase(passphraseFile)
    var typed = false
    do {
        do {
            return try PrivateKey.fromPEM(pem, passphrase: passphrase)
        } catch KeyFileError.passphraseNeeded where Terminal.isInteractive {
            typed = true
            let answer: [UInt8]?
            do { answer = try Terminal.readSecret(prompt: Display.text("Passphrase for \(keyPath): ")) } catch let error as TerminalError {
                throw UserError("\(keyPath): cannot ask for the passphrase: \(error)", hint: "pass --passphrase-file FILE")
            }
            guard let answer else { throw UserError("\(keyPath): no passphrase given", hint: "pass --passphrase-file FILE") }
            return try PrivateKey.fromPEM(pem, passphrase: answer)
        }
    } catch let error as KeyFileError {
        let supported = "use an Ed25519 or ECDSA P-256 key (`glassbox key generate --name NAME -o PREFIX`, or `openssl genpkey -algorithm ed25519`)"
        switch error {
        case .passphraseNeeded:
            throw UserError("\(keyPath): the key is encrypted and no passphrase was given",
                            hint: "pass --passphrase-file FILE (its first line is the passphrase)")
        case .wrongPassphrase:
            throw UserError("\(keyPath): the passphrase does not decrypt the key",
                            hint: typed || passphraseFile == nil ? "type the passphrase the key was encrypted with"
                                : "the passphrase is the first line of \(passphraseFile!), without its line end")
        case .unsupported(let algorithm):
            throw UserError("\(keyPath): \(algorithm) keys are not supported", hint: supported)
        case .notPEM:
            let text = String(decoding: pem.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if (try? VerifierKey(parsing: text)) != nil || (try? CosignatureKey(parsing: text)) != nil {
                throw UserError("\(keyPath): a verifier key (.pub), not a private key", hint: "pass the private key (.key) beside it")
            }
            throw UserError("\(keyPath): not a PEM private key (no -----BEGIN line)",
                            hint: "a key is PKCS#8 PEM, as `glassbox key generate` and `openssl genpkey` write")
        case .notAPrivateKey(let label):
            throw UserError("\(keyPath): a PEM \(label), not a private key",
                            hint: "a key is PKCS#8 PEM, as `glassbox key generate` and `openssl genpkey` write")
        case .openSSH:
            throw UserError("\(keyPath): an OpenSSH private key; Glassbox reads PKCS#8 PEM keys", hint: supported)
        case .malformed(let reason):
            throw UserError("\(keyPath): the PEM private key is damaged or of a kind OpenSSL cannot read (PEM_read_bio_PrivateKey: \(reason))",
                            hint: "check that the file is whole: a key is PKCS#8 PEM, as `glassbox key generate` writes")
        }
    }
}

/// Loads a signing key; its name comes from `--name` or the `.pub` file beside it.
func loadSigner(keyPath: String, name: String?, passphraseFile: String?) throws -> NoteSigner {
    let key = try loadPrivateKey(keyPath, passphraseFile: passphraseFile)
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
        commandName: "trust", abstract: "Trust policies.", subcommands: [Init.self, Add.self, Remove.self])

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
                    let text = try keyText(item).text
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

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a release key or a rebuilder key to a trust policy, keeping every other line as it is.",
            discussion: "Refuses a public key the list already holds, under any name. The file is locked, and replaced only by a policy that parses.")

        @Argument(help: "The trust policy to edit.", completion: .file())
        var policy: String

        @Option(name: .long, help: "A release key to trust: a PREFIX.pub file or a NAME+KEYID+KEY string.", completion: .file())
        var key: String?

        @Option(name: .long, help: "A rebuilder key to trust: a PREFIX.pub file or a NAME+KEYID+KEY string.", completion: .file())
        var rebuilder: String?

        @Option(name: .long, help: "Origin patterns the key may sign (exact, or a prefix ending in '*'), comma-separated.")
        var origins: String?

        @Option(name: .long, help: "The first UTC day the key counts (YYYY-MM-DD).")
        var notBefore: String?

        @Option(name: .long, help: "The last UTC day the key counts (YYYY-MM-DD).")
        var notAfter: String?

        @OptionGroup var thresholds: PolicyThresholds

        func validate() throws {
            guard (key == nil) != (rebuilder == nil) else { throw ValidationError("give exactly one of --key or --rebuilder") }
        }

        func run() throws {
            try runReporting {
                let list: PolicyEdit.List = key != nil ? .key : .rebuilder
                let item = key ?? rebuilder!
                let entry = TrustPolicy.Key(verifier: try readVerifierKey(item),
                                            origins: origins.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [],
                                            notBefore: notBefore, notAfter: notAfter)
                try editPolicy(policy) { text, parsed in
                    let listed = list == .key ? parsed.keys : parsed.rebuilders
                    if let same = listed.first(where: { $0.verifier.canonicalKey == entry.verifier.canonicalKey }) {
                        throw UserError("\(policy) already lists that public key, as \(list.rawValue) \(shownKey(same.verifier)); the policy is unchanged",
                                        hint: "to change its name, origins or dates, remove it first with `glassbox trust remove \(policy) \(same.verifier.name)`")
                    }
                    return (thresholds.apply(to: PolicyEdit.appending(entry.line(list.rawValue), to: text)),
                            "added \(list.rawValue) \(shownKey(entry.verifier)) to \(policy)")
                }
                return Exit.verified
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Remove the key and rebuilder lines of one key from a trust policy, keeping every other line as it is.",
            discussion: "KEY is a key name (every line with that name), or a PREFIX.pub file or NAME+KEYID+KEY string (every line with that public key, whatever its name). Refuses when no line matches. The file is locked, and replaced only by a policy that parses.")

        @Argument(help: "The trust policy to edit.", completion: .file())
        var policy: String

        @Argument(help: "A key name, a PREFIX.pub file, or a NAME+KEYID+KEY string.", completion: .file())
        var key: String

        @OptionGroup var thresholds: PolicyThresholds

        func run() throws {
            try runReporting {
                let wanted: VerifierKey? = FileManager.default.fileExists(atPath: key) || key.contains("+") ? try readVerifierKey(key) : nil
                try editPolicy(policy) { text, _ in
                    let lines = PolicyEdit.keyLines(text)
                    let matches = lines.filter { line in
                        if let wanted { return line.verifier.canonicalKey == wanted.canonicalKey }
                        return line.verifier.name.utf8.elementsEqual(key.utf8)
                    }
                    guard !matches.isEmpty else {
                        let names = lines.map { "\($0.list.rawValue) \($0.verifier.name)" }.joined(separator: ", ")
                        throw UserError("\(policy): no key or rebuilder line \(wanted.map { "holds the public key of \(shownKey($0))" } ?? "names \(key)"); the policy is unchanged",
                                        hint: lines.isEmpty ? "the policy lists no keys" : "the policy lists: \(names)")
                    }
                    let removed = matches.map { "\($0.list.rawValue) \(shownKey($0.verifier)) (line \($0.number))" }.joined(separator: ", ")
                    return (thresholds.apply(to: PolicyEdit.removing(lines: Set(matches.map(\.number)), from: text)), "removed \(removed) from \(policy)")
                }
                return Exit.verified
            }
        }
    }
}

/// `--threshold K` and `--rebuild-threshold K`: set in the same edit that adds or removes a key,
/// so a policy never has to pass through a state that does not parse.
struct PolicyThresholds: ParsableArguments {
    @Option(name: .long, help: "Also set the policy's threshold (how many distinct release keys must sign).")
    var threshold: Int?

    @Option(name: .long, help: "Also set the policy's rebuild-threshold (how many distinct rebuilders must attest).")
    var rebuildThreshold: Int?

    func apply(to text: [UInt8]) -> [UInt8] {
        var out = text
        if let threshold { out = PolicyEdit.setting("threshold", to: threshold, in: out) }
        if let rebuildThreshold { out = PolicyEdit.setting("rebuild-threshold", to: rebuildThreshold, in: out) }
        return out
    }
}

/// The text of a key given as a PREFIX.pub file or as the key string itself, read with a bound,
/// and whether it came from a file (so an error can name line 1).
func keyText(_ item: String) throws -> (text: String, fromFile: Bool) {
    let fromFile = FileManager.default.fileExists(atPath: item)
    let bytes = fromFile ? try readFile(item, limit: 64 << 10) : Array(item.utf8)
    return (String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), fromFile)
}

/// A verifier key from a PREFIX.pub file or a vkey string.
private func readVerifierKey(_ item: String) throws -> VerifierKey {
    let (text, fromFile) = try keyText(item)
    do { return try VerifierKey(parsing: text) } catch {
        throw UserError("\(item)\(fromFile ? ":1" : ""): \(error)", hint: "a verifier key is the line `glassbox key pub` prints, NAME+KEYID+KEY")
    }
}

private func shownKey(_ key: VerifierKey) -> String { keyLabel(key.name, key.keyID) }

/// Edits a trust policy in place: under the lock beside it, reads the file as it is now, checks
/// that it parses, applies `edit`, checks that the result parses, and replaces the file through a
/// temporary file (keeping its mode). Two edits at once queue; neither loses the other's line.
private func editPolicy(_ path: String,
                        _ edit: (_ text: [UInt8], _ parsed: TrustPolicy) throws -> (text: [UInt8], summary: String)) throws {
    let target = try OutputFile.resolve(path)
    try FileLock.holding(target + ".lock") {
        let text = try readFile(target, limit: 1 << 20)
        let parsed: TrustPolicy
        do {
            guard let string = String(validating: text, as: UTF8.self) else { throw FormatError(line: nil, "a trust policy is UTF-8 text") }
            parsed = try TrustPolicy(parsing: string)
        } catch let error as FormatError {
            throw UserError("\(path)\(error.line.map { ":\($0)" } ?? ""): \(error.message); the policy is unchanged",
                            hint: "fix the policy by hand first (its format is in Manifests/FORMAT.md)")
        }
        let (after, summary) = try edit(text, parsed)
        do {
            guard let string = String(validating: after, as: UTF8.self) else { throw FormatError(line: nil, "a trust policy is UTF-8 text") }
            _ = try TrustPolicy(parsing: string)
        } catch let error as FormatError {
            throw UserError("\(path): the edited policy would not parse (\(error)); the policy is unchanged",
                            hint: error.message.contains("threshold") ? "set the threshold in the same edit with --threshold K or --rebuild-threshold K"
                                : "the policy format is in Manifests/FORMAT.md")
        }
        try writeOutput(after, to: target)
        printError("glassbox: \(summary)\n")
    }
}

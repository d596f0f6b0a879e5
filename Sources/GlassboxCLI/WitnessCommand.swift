import ArgumentParser
import Foundation
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit

/// `glassbox witness`: a transparency center cosigning the log's checkpoints.
struct WitnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness", abstract: "Cosign log checkpoints as a witness (C2SP tlog-cosignature/v1).",
        subcommands: [Cosign.self])

    struct Cosign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a checkpoint against the last one this witness cosigned, then print a cosignature line.",
            discussion: "Refuses a rollback (a smaller tree) or a fork (a different root, or an older tree that is not a prefix): exit 1.")

        @Option(name: .long, help: "The witness's Ed25519 key (its name from the .pub beside it, made with keygen --witness).", completion: .file()) var key: String
        @Option(name: .long, help: "The witness's state: the last checkpoint it cosigned for this log.", completion: .file()) var state: String
        @Option(name: .long, help: "The log's verifier key (.pub or vkey text).", completion: .file()) var logKey: String
        @Argument(help: "The log's signed checkpoint.", completion: .file()) var checkpoint: String
        @Option(name: .long, help: "A consistency proof from the state's size to the checkpoint's.", completion: .file()) var proof: String?
        @Option(name: .long, help: "The file holding the witness key's passphrase.", completion: .file()) var passphraseFile: String?

        func run() throws {
            try runReportingFailures {
                let witness = try loadWitness(key, passphraseFile: passphraseFile)
                let logVKey = try readLogKey(logKey)
                let note: SignedNote
                do { note = try SignedNote(parsing: try readFile(checkpoint)) } catch let error as NoteError { throw UserError("\(checkpoint): \(error)") }
                do {
                    try openCheckpoint(note, path: checkpoint, key: logVKey,
                                       keyHint: "check --log-key: it is the verifier key of the log that made \(checkpoint)")
                } catch let failure as VerificationFailure {
                    say("glassbox: witness: REFUSED: \(failure.message)\n")
                    return Exit.failed
                }
                let new: Checkpoint
                do { new = try Checkpoint(parsing: note.text) } catch let error as FormatError { throw UserError("\(checkpoint): \(error)") }
                let consistency: ConsistencyProof?
                do { consistency = try proof.map { try ConsistencyProof(parsing: try readFile($0)) } } catch let error as FormatError {
                    throw UserError("\(proof!)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                                    hint: "`glassbox log consistency LOG --from N -o FILE` writes a consistency proof")
                }
                // Two cosign runs at once must not both pass against the same old state (each
                // would cosign one side of a fork): decide and record under the state's lock.
                let line: [UInt8]? = try FileLock.holding(try OutputFile.resolve(state) + ".lock") {
                    if FileManager.default.fileExists(atPath: state) {
                        let old: Checkpoint
                        do { old = try Checkpoint(parsing: try readFile(state)) } catch let error as FormatError {
                            throw UserError("\(state): \(error)", hint: "the state holds the last checkpoint this witness cosigned")
                        }
                        if let refusal = checkConsistency(old: old, new: new, proof: consistency) {
                            say("glassbox: witness: REFUSED: \(refusal)\n")
                            // A larger tree, with no proof for these two sizes: name the command that makes one.
                            if old.size > 0, new.size > old.size, consistency.map({ $0.oldSize != old.size || $0.newSize != new.size }) ?? true {
                                printError("glassbox: hint: the log makes one with `glassbox log consistency LOG --from \(old.size) -o PROOF` "
                                           + "while its checkpoint is at size \(new.size); pass it with --proof PROOF\n")
                            }
                            return nil
                        }
                    }
                    let line = try witness.cosign(note.text, timestamp: UInt64(Date().timeIntervalSince1970))
                    try writeOutput(new.text, to: state)
                    return line
                }
                guard let line else { return Exit.failed }
                say(String(decoding: line, as: UTF8.self) + "\n")
                return Exit.verified
            }
        }
    }
}

/// A witness key: an Ed25519 PEM key whose name is in the type-0x04 vkey beside it.
func loadWitness(_ keyPath: String, passphraseFile: String?) throws -> Witness {
    let key = try loadPrivateKey(keyPath, passphraseFile: passphraseFile)
    guard key.algorithm == .ed25519 else {
        throw UserError("\(keyPath): ECDSA P-256 keys cannot be witness keys; tlog-cosignature/v1 is Ed25519",
                        hint: "make a witness key with `glassbox key generate --witness --name NAME -o PREFIX`")
    }
    let pubPath = (keyPath.hasSuffix(".key") ? String(keyPath.dropLast(4)) : keyPath) + ".pub"
    let vkey: CosignatureKey
    do { vkey = try CosignatureKey(parsing: String(decoding: try readFile(pubPath), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
        throw UserError("\(pubPath):1: \(error)", hint: "make witness keys with `glassbox keygen --witness`")
    }
    let witness = try Witness(name: vkey.name, privateKey: key)
    guard witness.key == vkey else { throw UserError("\(pubPath) is not the public key of \(keyPath)") }
    return witness
}

import ArgumentParser
import Foundation
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit

/// `glassbox export`: a manifest in the forms other supply-chain tools read.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export what a manifest says in the forms other supply-chain tools read.",
        subcommands: [InToto.self])

    struct InToto: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "in-toto",
            abstract: "Write an in-toto Statement v1 (SLSA Provenance v1) about a manifest's artifacts, in a DSSE envelope signed with the release key.",
            discussion: "The subjects are the artifacts the manifest lists (name, SHA-256); the source is a resource descriptor with the commit, tree and tag object ids and the manifest's root. See Manifests/FORMAT.md, section in-toto export.")

        @Argument(help: "The manifest.", completion: .file())
        var manifest: String

        @Option(name: .long, help: "The release's private key (PEM): Ed25519 or ECDSA P-256.", completion: .file())
        var key: String

        @Option(name: .long, help: "The key name (default: from PREFIX.pub beside the key).")
        var name: String?

        @Option(name: .long, help: "The file holding the key's passphrase.", completion: .file())
        var passphraseFile: String?

        @Option(name: .long, help: "Where the source can be fetched, as the statement's source uri (e.g. git+https://example.com/r.git@refs/tags/v1); the manifest does not record one.")
        var sourceUri: String?

        @Option(name: [.customShort("o"), .long], help: "Write the envelope here instead of stdout.", completion: .file())
        var output: String?

        func run() throws {
            try runReporting {
                // Entries are checked against the root as they stream past, and not kept.
                let parsed = try loadManifest(manifest) { _ in }
                do { try parsed.checkConsistency() } catch let error as FormatError {
                    throw UserError("\(manifest):\(error.line ?? 0): \(error.message)",
                                    hint: "refusing to vouch for a manifest whose entries do not match its root")
                }
                let statement: [UInt8]
                do { statement = try InTotoRelease.statement(for: parsed, sourceURI: sourceUri) } catch let error as FormatError {
                    throw UserError("\(manifest): \(error.message)", hint: parsed.header.artifacts.isEmpty
                                    ? "list the shipped files with `glassbox manifest --artifact DIR`"
                                    : "rename the artifact to a UTF-8 name and make the manifest again")
                }
                let signer = try loadSigner(keyPath: key, name: name, passphraseFile: passphraseFile)
                let envelope = try DSSE.sign(payload: statement, payloadType: InTotoRelease.payloadType, with: signer)
                try writeOutput(try envelope.json(), to: output)
                printError("glassbox: in-toto statement about \(counting(parsed.header.artifacts.count, "artifact")) of \(parsed.header.origin), signed by \(envelope.signatures[0].keyid)\n")
                return Exit.verified
            }
        }
    }
}

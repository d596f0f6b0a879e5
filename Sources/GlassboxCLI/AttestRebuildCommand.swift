import ArgumentParser
import Glassbox
import GlassboxReview
import GlassboxCrypto
import GlassboxGit

/// `glassbox attest-rebuild`: a rebuilder's signed statement of what rebuilding a release's
/// artifacts came to, from inputs named explicitly (the release manifest, the recipe, the
/// environment's package versions and the rebuilt files).
struct AttestRebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest-rebuild",
        abstract: "Write a signed rebuild attestation: for each artifact a manifest lists, whether the rebuilt file is the signed one.",
        discussion: """
            Exit 0 when every listed artifact reproduced, 1 when one did not (the attestation is \
            written all the same: it says which differ), 2 bad input.
            """)

    @Option(name: .long, help: "The release manifest whose artifacts were rebuilt.", completion: .file())
    var manifest: String

    @Option(name: .long, help: "The recipe the rebuild followed; its SHA-256 is attested.", completion: .file())
    var recipe: String

    @Option(name: .long, help: "The recipe's path as the attestation names it (default: as given to --recipe).")
    var recipePath: String?

    @Option(name: .long, help: "A package the recipe requires and the version the rebuild environment had, PACKAGE=VERSION (repeatable).")
    var requires: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "The rebuilt files: files, named by base name, or directories of files, named by relative path (as `manifest --artifact` names them).", completion: .file())
    var rebuilt: [String] = []

    @Option(name: .long, help: "The rebuilder's private key (PEM).", completion: .file())
    var key: String

    @Option(name: .long, help: "The key name (default: from PREFIX.pub beside the key).")
    var name: String?

    @Option(name: .long, help: "The file holding the key's passphrase.", completion: .file())
    var passphraseFile: String?

    @Option(name: [.customShort("o"), .long], help: "Write the attestation here (atomically) instead of stdout.", completion: .file())
    var output: String?

    func run() throws {
        try runReporting {
            let signer = try loadSigner(keyPath: key, name: name, passphraseFile: passphraseFile)
            // The entries are streamed, not kept: only the note text and its root are attested,
            // but a manifest whose entries do not hash to its root is refused, as `sign` does.
            let release = try loadManifest(manifest) { _ in }
            do { try release.checkConsistency() } catch let error as FormatError {
                throw UserError("\(manifest):\(error.line ?? 0): \(error.message)",
                                hint: "refusing to attest a rebuild of a manifest whose entries do not match its root")
            }
            let environment = try requires.map { item in
                let parts = item.utf8.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw UserError("--requires '\(item)' is not PACKAGE=VERSION") }
                return RebuildAttestation.Requirement(package: String(decoding: parts[0], as: UTF8.self),
                                                      version: String(decoding: parts[1], as: UTF8.self))
            }
            var digests: [[UInt8]: [UInt8]] = [:]
            for given in try observeArtifacts(rebuilt, workers: defaultWorkerCount).given {
                for item in given.items {
                    guard item.kind != .link else { throw UserError("\(given.path): \(shown(item.path)) is a symlink; artifacts are regular files") }
                    guard digests[item.path] == nil else {
                        throw UserError("two rebuilt files are named \(shown(item.path))", hint: "give each rebuilt artifact once")
                    }
                    digests[item.path] = item.digest
                }
            }
            let recipeBytes = try readFile(recipe, limit: 16 << 20)
            let attestation: RebuildAttestation
            do {
                attestation = try RebuildAttestation.make(manifest: release, recipePath: Array((recipePath ?? recipe).utf8),
                                                          recipeSHA256: SHA256.hash(recipeBytes), environment: environment,
                                                          rebuilt: digests)
            } catch let error as FormatError {
                throw UserError(error.message, hint: release.header.artifacts.isEmpty ? "the manifest lists no artifacts to rebuild"
                                : "a package and version are printable ASCII words, e.g. --requires gcc=12.2.0-14")
            }
            let note = try attestation.signedNote(signers: [signer])
            try writeOutput(note.bytes, to: output)
            let reproduced = attestation.artifacts.filter(\.reproduced).count
            let listed = attestation.artifacts.count
            let attested = Set(attestation.artifacts.map(\.name))
            let unlisted = digests.keys.filter { !attested.contains($0) }.count
            printError("glassbox: \(reproduced) of \(counting(listed, "artifact")) reproduced; attested as \(signer.verifier.name)"
                       + (unlisted > 0 ? " (\(unlisted) rebuilt file\(unlisted == 1 ? " is" : "s are") not listed in the manifest and not attested)" : "") + "\n")
            return reproduced == listed ? Exit.verified : Exit.failed
        }
    }
}

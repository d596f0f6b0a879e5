import ArgumentParser
import Glassbox
import GlassboxGit
import GlassboxReview

/// `glassbox prove`: a per-file proof against a signed manifest.
struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Write a self-contained proof (C2SP tlog-proof@v1 shape) that one path is in a signed release.")

    @Argument(help: "The signed manifest.", completion: .file())
    var manifest: String

    @Argument(help: "The path in the release, as the manifest lists it (escaped form).")
    var path: String

    @Option(name: [.customShort("o"), .long], help: "Write the proof here (atomically) instead of stdout.", completion: .file())
    var output: String?

    func run() throws {
        try runReporting {
            let parsed = try loadManifest(manifest)
            guard let raw = Escaping.unescape(Array(path.utf8)) else {
                throw UserError("'\(path)' is not a path in the manifest's escaped form")
            }
            let proof: FileProof
            do { proof = try FileProof.make(manifest: parsed, path: raw) } catch let error as FormatError {
                throw UserError("\(manifest): \(error.message)")
            }
            try writeOutput(proof.render(), to: output)
            return Exit.verified
        }
    }
}

import ArgumentParser
import Glassbox
import GlassboxReview
import GlassboxGit

/// `glassbox manifest`: read a tree from git or a directory and write its manifest.
struct ManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Write the Merkle manifest of a git revision or a directory.")

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: "The release name (default: the repository or directory name).")
    var name: String?

    @Option(name: .long, help: "The release version (default: the tag without a leading 'v', else the short commit id).")
    var version: String?

    @Option(name: .long, help: "The checkpoint origin identifying the release, e.g. example.com/curl/8.21.0 (default: NAME/VERSION).")
    var origin: String?

    @Option(name: .long, help: "A shipped binary or package to list (repeatable): a file, named by its base name, or a directory of files, named by relative path.", completion: .file())
    var artifact: [String] = []

    @Option(name: .long, help: "The build recipe's path in the tree (see `glassbox rebuild`); checked, and named in the signed note.")
    var recipe: String?

    @Option(name: [.customShort("o"), .long], help: "Write the manifest here (atomically) instead of stdout.", completion: .file())
    var output: String?

    func run() throws {
        try runReporting {
            var recipePath: [UInt8]?
            if let recipe {
                guard let raw = Escaping.unescape(Array(recipe.utf8)), pathProblem(raw) == nil else {
                    throw UserError("--recipe '\(recipe)' is not a relative path in the tree")
                }
                recipePath = raw
            }
            let gatherer = recipePath.map { RecipeGatherer(path: $0) }
            var inspect: ContentInspector?
            if let gatherer { inspect = { gatherer.sink(for: $0) } }
            let snapshot = try source.read(inspect: inspect)
            if let recipePath, let gatherer {
                guard snapshot.entries.contains(where: { $0.path == recipePath && $0.kind.isRegularFile }) else {
                    throw UserError("--recipe \(shown(recipePath)): no regular file of that name in the tree",
                                    hint: "the recipe must be in the release tree, so the signed root covers it")
                }
                do { _ = try Recipe(parsing: gatherer.bytes ?? []) } catch let error as FormatError {
                    throw UserError("\(shown(recipePath))\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                                    hint: "the recipe format: `glassbox help format` (in full: Manifests/FORMAT.md § Build recipes)")
                }
            }
            let name = self.name ?? snapshot.defaultName
            let version = self.version ?? snapshot.defaultVersion
            let origin = self.origin ?? Manifest.defaultOrigin(name: name, version: version)
            var artifacts: [Artifact] = []
            for given in try observeArtifacts(artifact, workers: source.workers ?? defaultWorkerCount).given {
                if let git = given.gitEntries.first {
                    throw UserError("\(given.path): \(shown(git)) is git's data, not an artifact", hint: "list only the files that ship")
                }
                for item in given.items {
                    guard item.kind != .link else { throw UserError("\(given.path): \(shown(item.path)) is a symlink; artifacts are regular files") }
                    guard !artifacts.contains(where: { $0.name == item.path }) else {
                        throw UserError("two artifacts are named \(shown(item.path))", hint: "artifact names must be unique")
                    }
                    artifacts.append(Artifact(name: item.path, size: item.size, sha256: item.digest))
                }
            }
            let header = ReleaseHeader(origin: origin, name: name, version: version, source: snapshot.source,
                                       artifacts: artifacts, gitArchive: snapshot.gitArchive, recipe: recipePath)
            let manifest: Manifest
            do {
                manifest = try Manifest(header: header, entries: snapshot.entries)
            } catch let error as FormatError {
                throw UserError(error.message, hint: self.origin == nil
                    ? "pass --origin with a schema-less URL you control, such as example.com/\(Manifest.defaultOrigin(name: name, version: version))"
                    : "an origin has no spaces, '+' or control characters, e.g. example.com/curl/8.21.0")
            }
            try writeStreaming(to: output) { sink in try manifest.render(sink) }
            return Exit.verified
        }
    }
}

import ArgumentParser
import Glassbox
import GlassboxReview
import GlassboxGit

/// `glassbox inspect`: what a manifest says, checked for internal consistency.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a manifest's release identity, source, counts, bytes and root.")

    @Argument(help: "The manifest file.", completion: .file())
    var file: String

    @Flag(name: .long, help: "Print JSON (media type \(InspectReport.mediaType)).")
    var json = false

    func run() throws {
        try runReporting {
            var stats = EntryStatistics()
            let manifest = try loadManifest(file) { stats.add($0) }
            do {
                try manifest.checkConsistency()
            } catch let error as FormatError {
                throw UserError("\(file):\(error.line ?? 0): \(error.message)",
                                hint: "the entry lines were edited after the manifest was written, or the file is truncated")
            }
            let report = InspectReport(manifest, stats)
            if json { try writeOutput(renderJSON(report), to: nil) } else { say(report.text) }
            return Exit.verified
        }
    }
}

/// What `inspect` prints, as text or JSON.
struct InspectReport: Encodable {
    static let mediaType = "application/vnd.glassbox.inspect.v1+json"

    struct Source: Encodable {
        var type: String
        var commit: String?
        var tree: String?
        var tag: String?
        var tagObject: String?
    }

    struct ArtifactItem: Encodable {
        var name: String
        var size: UInt64
        var sha256: String
    }

    var mediaType = InspectReport.mediaType
    /// The version of the tools that wrote it, as `--version` prints it.
    var toolVersion = GlassboxVersion.string
    var origin: String
    var name: String
    var version: String
    var source: Source
    var entries: UInt64
    var countsByKind: [String: Int]
    var totalBytes: UInt64
    var root: String
    var rootHex: String
    var signatureLines: Int
    var artifacts: [ArtifactItem]
    /// The build recipe's path in the tree, when the release names one (see `glassbox rebuild`).
    var recipe: String?

    init(_ m: Manifest, _ stats: EntryStatistics) {
        origin = m.header.origin
        name = m.header.name
        version = m.header.version
        switch m.header.source {
        case .directory:
            source = Source(type: "directory")
        case let .git(commit, tree, tagName, tagObject):
            source = Source(type: "git", commit: commit, tree: tree, tag: tagName.map(shown), tagObject: tagObject)
        }
        entries = m.count
        countsByKind = Dictionary(uniqueKeysWithValues: stats.countByKind.map { ($0.key.rawValue, $0.value) })
        totalBytes = stats.totalBytes
        root = base64(m.root)
        rootHex = hex(m.root)
        signatureLines = m.signatureLines.count
        artifacts = m.header.artifacts.map { ArtifactItem(name: shown($0.name), size: $0.size, sha256: hex($0.sha256)) }
        recipe = m.header.recipe.map(shown)
    }

    var text: String {
        var lines = ["release     \(Display.field(name)) \(Display.field(version))", "origin      \(Display.field(origin))"]
        switch source.type {
        case "git":
            lines.append("source      git commit \(source.commit!)")
            lines.append("            tree \(source.tree!)")
            if let tag = source.tag {
                lines.append("            tag \(tag)" + (source.tagObject.map { " (tag object \($0))" } ?? " (lightweight)"))
            }
        default:
            lines.append("source      directory")
        }
        let kinds = EntryKind.allCases.map { "\($0.rawValue) \(countsByKind[$0.rawValue] ?? 0)" }.joined(separator: ", ")
        lines.append("entries     \(entries) (\(kinds))")
        lines.append("bytes       \(totalBytes)")
        lines.append("root        \(root)")
        lines.append("            \(rootHex) (hex)")
        lines.append("signatures  \(signatureLines) (not verified here; see verify-release)")
        lines.append("artifacts   \(artifacts.count)")
        for a in artifacts { lines.append("            \(a.name) \(a.size) \(a.sha256)") }
        if let recipe { lines.append("recipe      \(recipe) (glassbox rebuild builds the artifacts from it)") }
        return lines.joined(separator: "\n") + "\n"
    }
}

import ArgumentParser
import Glassbox
import GlassboxReview

/// `glassbox check`: recompute a tree and report every difference from a manifest.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Compare a git revision or a directory with a manifest, naming every difference.",
        discussion: "Exit 0 when the tree matches, 1 when it differs, 2 on bad input. Signatures are not checked here: use verify-release.")

    @Argument(help: "The manifest file.", completion: .file())
    var file: String

    @OptionGroup var source: SourceOptions

    @OptionGroup var colorOptions: ColorOptions

    func run() throws {
        try runReporting {
            var fallback = "HEAD"
            let header = try loadManifestHeader(file)
            if case let .git(commit, _, _, _) = header.source { fallback = commit }
            // An archive manifest is checked against what git archive writes, as it was made.
            let snapshot = try source.read(fallbackRevision: fallback, archive: source.archive || header.gitArchive)
            let (manifest, differences) = try compareWithManifest(file, actual: snapshot.entries)
            do {
                try manifest.checkConsistency()
            } catch let error as FormatError {
                throw UserError("\(file):\(error.line ?? 0): \(error.message)",
                                hint: "the entry lines were edited after the manifest was written, or the file is truncated")
            }
            let release = Display.field("\(manifest.header.name) \(manifest.header.version) (\(manifest.header.origin))")
            if differences.isEmpty {
                sayReport("glassbox: check: the tree matches \(release): \(counting(manifest.entryCount, "entry", "entries"))\n",
                          passed: true, colorOptions.painter)
                return Exit.verified
            }
            sayReport("glassbox: check: the tree differs from \(release): \(counting(differences.count, "difference"))\n",
                      passed: false, colorOptions.painter)
            say(renderDifferences(differences))
            return Exit.failed
        }
    }
}

/// Every difference, grouped by kind, one path a line with what was expected and found.
func renderDifferences(_ differences: [Difference]) -> String {
    var out = ""
    for kind in Difference.Kind.allCases {
        let group = differences.filter { $0.kind == kind }
        if group.isEmpty { continue }
        out += "\(kind.rawValue) (\(group.count)):\n"
        for d in group {
            out += "  \(shown(d.path))"
            switch d {
            case .missing: break
            case let .extra(found): out += "  [\(found.kind.rawValue), \(counting(found.size, "byte"))]"
            case let .changed(kind, listed, found):
                switch kind {
                case .kindChanged, .modeChanged: out += "  [\(listed.kind.rawValue) → \(found.kind.rawValue)]"
                case .modified: out += "  [\(listed.size) → \(counting(found.size, "byte")), sha256 \(hex(listed.digest).prefix(12))… → \(hex(found.digest).prefix(12))…]"
                case .retargeted: out += "  [target sha256 \(hex(listed.digest).prefix(12))… → \(hex(found.digest).prefix(12))…]"
                case .submoduleMoved: out += "  [\(hex(listed.digest)) → \(hex(found.digest))]"
                case .missing, .extra: break
                }
            }
            out += "\n"
        }
    }
    return out
}

import GlassboxGit
import GlassboxScan

extension TarballReader {
    /// `read`, then the path rules on every directory the strip removed: no manifest lists
    /// them, anyone can rename them without touching a signature, and `tar -x` writes them, so
    /// one the rules flag (`.GIT`, a control character, a Windows device name…) is refused
    /// whatever the scan options.
    /// - Throws: `TarballError` as `read` does, and naming the first stripped directory a path
    ///   rule flags, with the rule.
    public static func readRelease(path: String, stripComponents: Int? = nil, progress: ProgressHandler? = nil,
                                   inspect: ContentInspector? = nil) throws -> TarballTree {
        let tree = try read(path: path, stripComponents: stripComponents, progress: progress, inspect: inspect)
        if let finding = strippedDirectoryFindings(tree.strippedDirectories).first {
            throw TarballError(path: path, entry: finding.path,
                               message: "the top-level directory stripped from every path is refused by the path rules "
                                   + "(\(finding.rule): \(finding.message)); tar -x writes it as it is")
        }
        return tree
    }
}

import GlassboxGit

// MARK: - The tree: paths, symlinks, git attributes, submodules

/// What the tree-wide rules need besides the entries.
public struct TreeFacts: Sendable {
    /// Each symlink's target bytes, by path.
    public var linkTargets: [[UInt8]: [UInt8]] = [:]
    /// Each `.gitattributes` file's content, by path.
    public var gitattributes: [[UInt8]: [UInt8]] = [:]
    /// `.gitattributes` files too large to keep (over `AttributeLimits.fileBytes`).
    public var oversizedGitattributes: [[UInt8]] = []
    /// Submodules whose pinned commit is not in the repository.
    public var missingSubmodules: [[UInt8]] = []
    /// What each regular file's bytes hold that a conversion acts on, by path (empty facts
    /// are left out).
    public var conversions: [[UInt8]: ConversionFacts] = [:]
    /// Whether the bytes are git objects a checkout converts, or files reviewed as read.
    public var attributeSource = AttributeSource.files
    /// For git objects: the filter drivers the repository's own config defines, by name.
    public var filterDrivers: Set<[UInt8]> = []
    public init() {}
}

/// Scans paths, symlinks, git attributes and submodules of a whole tree.
public func scanTree(_ entries: [TreeEntry], facts: TreeFacts) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    let paths = Set(entries.map(\.path))
    var directories = Set<[UInt8]>()
    for entry in entries {
        var prefix = entry.path[...]
        while let slash = prefix.lastIndex(of: UInt8(ascii: "/")) {
            prefix = prefix[..<slash]
            if !directories.insert(Array(prefix)).inserted { break }
        }
    }
    findings += pathFindings(paths, directories, links: Set(entries.lazy.filter { $0.kind == .link }.map(\.path)))
    findings += symlinkFindings(entries, facts.linkTargets, paths: paths, directories: directories)
    findings += gitattributeFindings(entries, facts.gitattributes, oversized: facts.oversizedGitattributes.sorted { $0.lexicographicallyPrecedes($1) },
                                     conversions: facts.conversions, source: facts.attributeSource, drivers: facts.filterDrivers)
    for path in facts.missingSubmodules {
        findings.append(ScanFinding("submodule-missing", .warning, path: path,
                                    "the pinned commit is not in this repository: the submodule's content cannot be reviewed"))
    }
    return findings
}


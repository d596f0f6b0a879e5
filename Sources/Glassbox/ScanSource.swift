import GlassboxGit
import GlassboxScan

/// Scans a tree: every file's content (in parallel for git and directories, in archive order
/// for a tarball), then the tree rules.
public func scanSource(_ tree: TreeLocation, options: ScanOptions, workers: Int) throws -> [ScanFinding] {
    // Only a git tree's bytes are the stored objects a checkout converts, with the repository's
    // own filter drivers.
    var source = AttributeSource.files
    var drivers = Set<[UInt8]>()
    if case let .git(repository, _) = tree {
        source = .gitObjects
        drivers = try GitReader.filterDrivers(repositoryPath: repository)
    }
    let collector = ScanCollector(options: options, attributeSource: source, filterDrivers: drivers)
    let inspect: ContentInspector = { collector.inspect($0) }
    let entries = switch tree {
    case let .git(repository, revision):
        try GitReader.visit(repositoryPath: repository, revision: revision ?? "HEAD", workers: workers, inspect: inspect).entries
    case let .directory(path):
        try DirectoryReader.visit(root: path, workers: workers, inspect: inspect)
    case let .tarball(path, strip):
        try TarballReader.readRelease(path: path, stripComponents: strip, inspect: inspect).entries
    }
    return collector.findings(entries: entries)
}

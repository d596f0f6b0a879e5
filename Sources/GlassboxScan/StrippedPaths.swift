import GlassboxGit

/// The path rules' findings on directories a reader removed from every path (a tarball's
/// top-level directory): `tar -x` still writes them, so `.GIT/` there is what `.GIT/` inside the
/// tree would be. `directories` holds every leading path of every stripped directory.
public func strippedDirectoryFindings(_ directories: [[UInt8]]) -> [ScanFinding] {
    pathFindings([], Set(directories)).sorted { ($0.path, $0.rule) < ($1.path, $1.rule) }
}

extension GitReader {
    /// The filter drivers the repository's own config defines (any `filter.NAME.*` key), by
    /// NAME: a checkout in this repository runs them on the files whose `filter` attribute
    /// names them. The global and system config are not read (see `RepositoryConfig`), so a
    /// driver the reviewer installed for every repository (git-lfs) is not among them.
    /// - Throws: `GitError` when the repository or its config cannot be read.
    public static func filterDrivers(repositoryPath: String) throws -> Set<[UInt8]> {
        try RepositoryConfig(GitRepositoryHandle(path: repositoryPath)).filterDriverNames
    }
}

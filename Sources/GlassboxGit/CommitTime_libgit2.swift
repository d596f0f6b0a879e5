import CGit2

extension GitReader {
    /// The committer time (seconds since 1970, UTC) of commit `commit` (hex), read from the
    /// commit object after checking that it hashes to its id: a rebuild's `SOURCE_DATE_EPOCH`.
    /// - Throws: `GitError` for a missing or corrupt commit, or one without a committer time.
    public static func committerTime(repositoryPath: String, commit: String) throws -> Int64 {
        var oid = git_oid()
        guard git_oid_fromstr(&oid, commit) == 0 else {
            throw GitError("git_oid_fromstr", "commit \(commit)", message: "not a commit id")
        }
        let odb = try GitObjectDatabase(GitRepositoryHandle(path: repositoryPath))
        let object = try odb.readVerified(oid, GIT_OBJECT_COMMIT, what: "commit \(commit)")
        // The header ends at the first empty line; its `committer NAME <EMAIL> TIME ZONE` line
        // ends with the time and zone (git's commit format).
        let bytes = object.bytes
        let header = bytes.prefix(upTo: bytes.firstRange(of: [0x0A, 0x0A])?.lowerBound ?? bytes.endIndex)
        for line in header.split(separator: 0x0A) where line.starts(with: Array("committer ".utf8)) {
            let fields = line.split(separator: 0x20)
            if fields.count >= 3, let time = Int64(String(decoding: fields[fields.count - 2], as: UTF8.self)) {
                return time
            }
        }
        throw GitError("git_odb_read", "commit \(commit)", message: "the commit has no committer time")
    }
}

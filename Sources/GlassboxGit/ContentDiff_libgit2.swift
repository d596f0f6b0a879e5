import CGit2
#if canImport(Glibc)
import Glibc
#endif
import GlassboxCrypto

/// A unified diff between two versions of a file, made by libgit2's diff of in-memory buffers.
public struct ContentDiff: Sendable, Equatable {
    /// libgit2 found binary content (a NUL in the first 8,000 bytes), so there is no text diff.
    public var isBinary: Bool
    /// The unified diff (`diff --git` header, hunks), empty for binary content.
    public var text: [UInt8]

    /// Diffs `old` against `new`, naming them `oldPath` and `newPath` in the header.
    /// - Throws: `GitError` if libgit2 fails.
    public static func between(old: [UInt8], new: [UInt8], oldPath: [UInt8], newPath: [UInt8]) throws -> ContentDiff {
        try LibGit2.ready()
        var patch: OpaquePointer?
        let oldName = oldPath.map { CChar(bitPattern: $0) } + [0]
        let newName = newPath.map { CChar(bitPattern: $0) } + [0]
        let status = old.withUnsafeBytes { o in
            new.withUnsafeBytes { n in
                git_patch_from_buffers(&patch, o.baseAddress, o.count, oldName, n.baseAddress, n.count, newName, nil)
            }
        }
        let what = "diff of '\(messagePath(newPath))'"
        guard status == 0, let patch else { throw GitError("git_patch_from_buffers", what) }
        defer { git_patch_free(patch) }
        guard let flags = git_patch_get_delta(patch)?.pointee.flags else {
            throw GitError("git_patch_get_delta", what, message: "the patch has no delta")
        }
        if flags & GIT_DIFF_FLAG_BINARY.rawValue != 0 { return ContentDiff(isBinary: true, text: []) }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        guard git_patch_to_buf(&buffer, patch) == 0 else { throw GitError("git_patch_to_buf", what) }
        let text = buffer.ptr.map { ptr in
            ptr.withMemoryRebound(to: UInt8.self, capacity: buffer.size) { Array(UnsafeBufferPointer(start: $0, count: buffer.size)) }
        } ?? []
        return ContentDiff(isBinary: false, text: text)
    }
}

extension GitReader {
    /// The content of `path` (a blob, or a symlink's target) at `commit`, its id checked.
    /// - Throws: `GitError` if the path is not a blob at that commit.
    public static func content(repositoryPath: String, commit: String, path: [UInt8]) throws -> [UInt8] {
        let repo = try GitRepositoryHandle(path: repositoryPath)
        var commitId = git_oid()
        guard git_oid_fromstr(&commitId, commit) == 0 else { throw GitError("git_oid_fromstr", "commit \(commit)") }
        var commitObject: OpaquePointer?
        guard git_commit_lookup(&commitObject, repo.pointer, &commitId) == 0, let commitObject else {
            throw GitError("git_commit_lookup", "commit \(commit)")
        }
        defer { git_commit_free(commitObject) }
        var tree: OpaquePointer?
        guard git_commit_tree(&tree, commitObject) == 0, let tree else { throw GitError("git_commit_tree", "commit \(commit)") }
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        let cPath = path.map { CChar(bitPattern: $0) } + [0]
        let shown = messagePath(path)
        guard git_tree_entry_bypath(&entry, tree, cPath) == 0, let entry else {
            throw GitError("git_tree_entry_bypath", "'\(shown)' at \(commit)")
        }
        defer { git_tree_entry_free(entry) }
        guard let blobId = git_tree_entry_id(entry)?.pointee else {
            throw GitError("git_tree_entry_id", "'\(shown)' at \(commit)", message: "the entry has no object id")
        }
        let object = try GitObjectDatabase(repo).readVerified(blobId, GIT_OBJECT_BLOB, what: "'\(shown)' at \(commit)")
        guard object.size > 0, let data = object.data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: object.size))
    }
}

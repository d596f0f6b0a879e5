import CGit2
#if canImport(Glibc)
import Glibc
#endif
import GlassboxCrypto

/// A libgit2 call failed: which function, libgit2's own message, and what we were doing.
public struct GitError: Error, CustomStringConvertible, Sendable {
    public let function: String
    public let message: String
    public let context: String

    public var description: String { "\(context): \(message) (\(function))" }

    init(_ function: String, _ context: String) {
        self.function = function
        self.context = context
        if let last = git_error_last(), let text = last.pointee.message {
            message = String(cString: text)
        } else {
            message = "failed"
        }
    }

    init(_ function: String, _ context: String, message: String) {
        self.function = function
        self.context = context
        self.message = message
    }
}

/// libgit2 wants one `git_libgit2_init` per process before any other call.
///
/// Object ids are checked here, not by libgit2: libgit2's strict verification re-hashes every
/// object with collision-detecting SHA-1, which cost more than half the read time. Glassbox
/// instead re-hashes every object it reads (commit, tag, trees, blobs) with OpenSSL's SHA-1 in
/// the same pass as SHA-256, so a corrupt or substituted object is still an error. Collision
/// detection adds nothing for us: the manifest binds each file by SHA-256 of the bytes read.
/// Pack windows are capped so memory does not grow with the size of the pack.
/// The XDG, system and ProgramData search paths point nowhere, so no attributes file outside
/// the repository (`~/.config/git/attributes`, `/etc/gitattributes` and its macros) reaches an
/// archive-mode lookup. The global search path is kept: libgit2's repository ownership check
/// reads `safe.directory` from `~/.gitconfig` (no longer from `/etc/gitconfig` or
/// `~/.config/git/config`), and nothing else Glassbox reads depends on global config.
enum LibGit2 {
    /// Why libgit2 could not be set up, or nil when it is ready.
    private static let failure: GitError? = {
        guard git_libgit2_init() > 0 else { return GitError("git_libgit2_init", "starting libgit2") }
        let options: [(String, () -> Int32)] = [
            ("GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION", { glassbox_git_set_strict_hash_verification(0) }),
            ("GIT_OPT_SET_MWINDOW_SIZE", { glassbox_git_set_mwindow_size(16 << 20) }),
            ("GIT_OPT_SET_MWINDOW_MAPPED_LIMIT", { glassbox_git_set_mwindow_mapped_limit(64 << 20) }),
            ("GIT_OPT_ENABLE_CACHING", { glassbox_git_set_caching(0) }),
        ] + [GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG].map { level in
            ("GIT_OPT_SET_SEARCH_PATH", { glassbox_git_set_search_path(level, "") })
        }
        for (name, set) in options where set() != 0 {
            return GitError("git_libgit2_opts", "setting \(name)")
        }
        return nil
    }()

    /// Initialises libgit2 once per process.
    /// - Throws: `GitError` naming the call that failed.
    static func ready() throws {
        if let failure { throw failure }
    }
}

/// One owner for one `git_repository`; freed exactly once.
final class GitRepositoryHandle {
    let pointer: OpaquePointer
    let path: String

    init(path: String) throws {
        try LibGit2.ready()
        var repo: OpaquePointer?
        let flags = GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue
        guard git_repository_open_ext(&repo, path, flags, nil) == 0, let repo else {
            throw GitError("git_repository_open_ext", "\(path) is not a git repository")
        }
        pointer = repo
        self.path = path
    }

    deinit { git_repository_free(pointer) }
}

/// One owner for one `git_odb`; keeps its repository alive.
final class GitObjectDatabase {
    let pointer: OpaquePointer
    let repository: GitRepositoryHandle

    init(_ repository: GitRepositoryHandle) throws {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repository.pointer) == 0, let odb else {
            throw GitError("git_repository_odb", repository.path)
        }
        pointer = odb
        self.repository = repository
    }

    deinit { git_odb_free(pointer) }
}

/// One owner for one `git_odb_object`.
final class GitObject {
    let pointer: OpaquePointer
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_odb_object_free(pointer) }
    var size: Int { git_odb_object_size(pointer) }
    var data: UnsafeRawPointer? { git_odb_object_data(pointer) }
    var bytes: [UInt8] { data.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] }
}

extension GitObjectDatabase {
    /// Reads an object and checks that its content hashes to its id, as git computes it:
    /// SHA-1("TYPE SIZE\0" ‖ content). `sha256` also receives the content, for blobs.
    /// `what` names the object in an error; it is only built when there is one.
    func readVerified(_ oid: git_oid, _ type: git_object_t, what: @autoclosure () -> String,
                      sha256: DigestHasher? = nil) throws -> GitObject {
        var id = oid
        var raw: OpaquePointer?
        guard git_odb_read(&raw, pointer, &id) == 0, let raw else {
            throw GitError("git_odb_read", "\(what()) (object \(hex(oid)))")
        }
        let object = GitObject(takingOwnershipOf: raw)
        guard git_odb_object_type(raw) == type else {
            throw GitError("git_odb_object_type", "\(what()) (object \(hex(oid)))", message: "the object is not a \(typeName(type))")
        }
        let sha1 = DigestHasher(.sha1)
        sha1.update(Array("\(typeName(type)) \(object.size)\0".utf8))
        if object.size > 0, let data = object.data {
            sha1.update(data, count: object.size)
            sha256?.update(data, count: object.size)
        }
        let expected = rawBytes(oid)
        guard sha1.finish() == expected else {
            throw GitError("git_odb_read", "\(what()) (object \(hex(oid)))",
                           message: "object hash mismatch: the object store is corrupt or was tampered with")
        }
        return object
    }
}

private func typeName(_ type: git_object_t) -> String {
    switch type {
    case GIT_OBJECT_BLOB: "blob"
    case GIT_OBJECT_TREE: "tree"
    case GIT_OBJECT_COMMIT: "commit"
    case GIT_OBJECT_TAG: "tag"
    default: "object"
    }
}

/// What a revision resolved to.
public struct GitRevision: Sendable, Equatable {
    /// The commit id, lowercase hex.
    public var commit: String
    /// The commit's root tree id, lowercase hex.
    public var tree: String
    /// The tag's name when the revision named a tag (annotated or lightweight).
    public var tagName: [UInt8]?
    /// The annotated tag object's id, when there is one.
    public var tagObject: String?
    /// The repository directory's name, for a default release name.
    public var repositoryName: String
}

/// A release tree read from a git object database, never from a checkout.
public struct GitSnapshot: Sendable {
    public var revision: GitRevision
    /// Every path, sorted by raw path bytes.
    public var entries: [TreeEntry]
}

private func hex(_ oid: git_oid) -> String {
    withUnsafeBytes(of: oid.id) { bytes in bytes.map { hexByte($0) }.joined() }
}

private func rawBytes(_ oid: git_oid) -> [UInt8] {
    withUnsafeBytes(of: oid.id) { Array($0) }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

private func cBytes(_ text: UnsafePointer<CChar>) -> [UInt8] {
    let length = strlen(text)
    return text.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
}

/// A path waiting to be read by a worker: a blob id, or an already finished entry.
private struct PendingBlob: Sendable {
    var path: [UInt8]
    var kind: EntryKind
    private var stored: InlineDigest
    var oid: [UInt8] { stored.bytes }

    init(path: [UInt8], kind: EntryKind, oid: [UInt8]) {
        self.path = path
        self.kind = kind
        self.stored = InlineDigest(oid)
    }
}

/// Reads release trees from git repositories with libgit2.
public enum GitReader {
    /// Reads every path of `revision`'s tree and hashes every blob, on `workers` threads
    /// that each open their own repository handle.
    /// - Throws: `GitError` for an unknown revision, a missing or corrupt object, a tree
    ///   with an invalid or duplicate name (`..`, `.git`, names containing `/`), or a tree
    ///   past `TreeLimits`.
    ///   `inspect`, when given, sees every path's content in the same pass (see `ContentVisit`),
    ///   from worker threads.
    public static func read(repositoryPath: String, revision: String,
                            workers: Int = defaultWorkerCount,
                            progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> GitSnapshot {
        let (resolved, work, readOrder) = try plan(repositoryPath, revision)
        let entries = try parallelMap(
            count: work.count, workers: workers, order: readOrder,
            makeState: { try GitObjectDatabase(GitRepositoryHandle(path: repositoryPath)) },
            progress: progress
        ) { odb, index -> TreeEntry in
            let item = work[index]
            if item.kind == .submodule {
                if let inspect {
                    var oid = git_oid()
                    withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: item.oid) }
                    inspect(ContentVisit(path: item.path, kind: .submodule, size: 0,
                                         isPresent: git_odb_exists(odb.pointer, &oid) == 1))?.finish()
                }
                return TreeEntry(path: item.path, kind: .submodule, size: 0, digest: item.oid)
            }
            return try hashBlob(odb, item, inspect: inspect)
        }
        return GitSnapshot(revision: resolved, entries: entries)
    }

    /// Shows every path's content (a blob's bytes, a symlink's target; for a submodule, whether
    /// its commit is here) to `inspect`, read in pack order on `workers` threads, each object's
    /// id checked. Returns every path with its kind and size (no content digest), in path order.
    public static func visit(repositoryPath: String, revision: String, workers: Int = defaultWorkerCount,
                             inspect: @escaping ContentInspector) throws -> (revision: GitRevision, entries: [TreeEntry]) {
        let (resolved, work, readOrder) = try plan(repositoryPath, revision)
        let entries = try parallelMap(
            count: work.count, workers: workers, order: readOrder,
            makeState: { try GitObjectDatabase(GitRepositoryHandle(path: repositoryPath)) }, progress: nil
        ) { odb, index -> TreeEntry in
            let item = work[index]
            var oid = git_oid()
            withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: item.oid) }
            if item.kind == .submodule {
                let present = git_odb_exists(odb.pointer, &oid) == 1
                inspect(ContentVisit(path: item.path, kind: .submodule, size: 0, isPresent: present))?.finish()
                return TreeEntry(path: item.path, kind: .submodule, size: 0, digest: [])
            }
            let object = try odb.readVerified(oid, GIT_OBJECT_BLOB, what: "blob for '\(messagePath(item.path))'")
            deliver(object, item, to: inspect)
            return TreeEntry(path: item.path, kind: item.kind, size: UInt64(object.size), digest: [])
        }
        return (resolved, entries)
    }

    /// The revision, every path with its object id in path order, and the pack order to read them in.
    private static func plan(_ repositoryPath: String, _ revision: String) throws -> (GitRevision, [PendingBlob], [Int]) {
        let repo = try GitRepositoryHandle(path: repositoryPath)
        let resolved = try resolve(repo, revision)
        var pending = try listTree(GitObjectDatabase(repo), root: resolved.treeOid)
        pending.sort { $0.path.lexicographicallyPrecedes($1.path) }
        // Read in pack order (see PackOrder); results still land in path order.
        guard let gitDirectory = git_repository_path(repo.pointer) else {
            throw GitError("git_repository_path", repositoryPath)
        }
        let packs = PackOrder(objectsDirectory: String(cString: gitDirectory) + "objects")
        let keys = pending.map { packs.key($0.oid) }
        return (resolved.revision, pending, pending.indices.sorted { keys[$0] < keys[$1] })
    }

    private static func resolve(_ repo: GitRepositoryHandle, _ revision: String) throws -> (revision: GitRevision, treeOid: git_oid) {
        var object: OpaquePointer?
        var reference: OpaquePointer?
        guard git_revparse_ext(&object, &reference, repo.pointer, revision) == 0, let object else {
            throw GitError("git_revparse_ext", "revision '\(revision)' in \(repo.path)")
        }
        defer {
            git_object_free(object)
            if let reference { git_reference_free(reference) }
        }
        var tagName: [UInt8]?
        var tagObject: String?
        var tagId: git_oid?
        if let reference, let name = git_reference_name(reference) {
            let full = cBytes(name)
            let prefix = Array("refs/tags/".utf8)
            if full.starts(with: prefix) { tagName = Array(full.dropFirst(prefix.count)) }
        }
        if git_object_type(object) == GIT_OBJECT_TAG, let id = git_object_id(object)?.pointee {
            tagId = id
            tagObject = hex(id)
            if tagName == nil, let name = git_tag_name(object) { tagName = cBytes(name) }
        }
        var commit: OpaquePointer?
        guard git_object_peel(&commit, object, GIT_OBJECT_COMMIT) == 0, let commit else {
            throw GitError("git_object_peel", "revision '\(revision)' does not name a commit")
        }
        defer { git_object_free(commit) }
        guard let commitId = git_object_id(commit)?.pointee, let treeId = git_commit_tree_id(commit)?.pointee else {
            throw GitError("git_commit_tree_id", "revision '\(revision)'", message: "the commit has no tree id")
        }
        let odb = try GitObjectDatabase(repo)
        _ = try odb.readVerified(commitId, GIT_OBJECT_COMMIT, what: "commit of '\(revision)'")
        if let tagId {
            _ = try odb.readVerified(tagId, GIT_OBJECT_TAG, what: "tag of '\(revision)'")
        }
        // The directory's own name: the work tree's, or the bare repository's without ".git".
        let directory = git_repository_workdir(repo.pointer) ?? git_repository_path(repo.pointer)
        var name = directory.map { String(decoding: cBytes($0), as: UTF8.self) } ?? repo.path
        while name.count > 1 && name.hasSuffix("/") { name.removeLast() }
        if name.hasSuffix("/.git") { name.removeLast(5) }
        name = String(name.split(separator: "/").last ?? Substring(name))
        if name.hasSuffix(".git") && name.count > 4 { name.removeLast(4) }
        if name.isEmpty || name == "/" { name = "release" }
        let resolved = GitRevision(commit: hex(commitId), tree: hex(treeId),
                                   tagName: tagName, tagObject: tagObject, repositoryName: name)
        return (resolved, treeId)
    }

    /// Walks a tree from its verified raw bytes: entries are `MODE SP NAME NUL ID(20)`. Parsing
    /// them here avoids inflating every tree twice (once to verify, once for libgit2's parser).
    /// The walk keeps its own stack of trees still to read, so no tree shape can exhaust the
    /// thread's stack, and refuses trees past `TreeLimits`.
    private static func listTree(_ odb: GitObjectDatabase, root: git_oid) throws -> [PendingBlob] {
        var pending: [PendingBlob] = []
        var trees: [(oid: git_oid, path: [UInt8], depth: Int)] = [(root, [], 0)]
        var entryCount = 0
        var pathBytes = 0
        while let tree = trees.popLast() {
            let what = { tree.path.isEmpty ? "the root tree" : "tree '\(messagePath(tree.path))'" }
            let object = try odb.readVerified(tree.oid, GIT_OBJECT_TREE, what: what())
            let bytes = object.bytes
            var seen = Set<ArraySlice<UInt8>>()
            var i = 0
            while i < bytes.count {
                guard let space = bytes[i...].firstIndex(of: 0x20), let nul = bytes[space...].firstIndex(of: 0),
                      nul + 21 <= bytes.count else {
                    throw GitError("git_odb_read", "\(what()) (\(hex(tree.oid)))", message: "malformed tree object")
                }
                let mode = bytes[i..<space]
                let name = bytes[(space + 1)..<nul]
                let entryOid = Array(bytes[(nul + 1)..<(nul + 21)])
                i = nul + 21
                let path = tree.path.isEmpty ? Array(name) : tree.path + [UInt8(ascii: "/")] + name
                if let problem = invalidNameReason(name) {
                    throw GitError("git_tree_entry_name", what(), message: "malformed entry name '\(messagePath(path))': \(problem)")
                }
                guard seen.insert(name).inserted else {
                    throw GitError("git_tree_entry_name", what(), message: "duplicate entry name '\(messagePath(path))'")
                }
                entryCount += 1
                pathBytes += path.count
                if entryCount > TreeLimits.entries || path.count > TreeLimits.pathBytes || pathBytes > TreeLimits.totalPathBytes {
                    throw GitError("git_tree_entry_name", what(), message: "'\(messagePath(path))' is past the limits "
                                   + "of \(TreeLimits.entries) paths, \(TreeLimits.pathBytes) bytes per path and "
                                   + "\(TreeLimits.totalPathBytes) bytes of paths in all")
                }
                if mode.elementsEqual(treeMode) {
                    guard tree.depth + 1 < TreeLimits.depth else {
                        throw GitError("git_tree_entry_name", what(), message: "tree '\(messagePath(path))' is "
                                       + "\(tree.depth + 1) levels deep; paths have at most \(TreeLimits.depth) levels")
                    }
                    var child = git_oid()
                    withUnsafeMutableBytes(of: &child.id) { $0.copyBytes(from: entryOid) }
                    trees.append((child, path, tree.depth + 1))
                    continue
                }
                guard let kind = entryKind(mode) else {
                    throw GitError("git_tree_entry_filemode", what(),
                                   message: "entry '\(messagePath(path))' has unknown mode \(Escaping.escape(Array(mode)))")
                }
                pending.append(PendingBlob(path: path, kind: kind, oid: entryOid))
            }
        }
        return pending
    }

    private static func hashBlob(_ odb: GitObjectDatabase, _ item: PendingBlob,
                                 inspect: ContentInspector? = nil) throws -> TreeEntry {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: item.oid) }
        let sha256 = DigestHasher(.sha256)
        let object = try odb.readVerified(oid, GIT_OBJECT_BLOB, what: "blob for '\(messagePath(item.path))'",
                                          sha256: sha256)
        if let inspect { deliver(object, item, to: inspect) }
        return TreeEntry(path: item.path, kind: item.kind, size: UInt64(object.size), digest: sha256.finish())
    }
}

/// Shows a blob (or a symlink's target) to `inspect`, in chunks of at most 1 MiB.
private func deliver(_ object: GitObject, _ item: PendingBlob, to inspect: ContentInspector) {
    let visit = ContentVisit(path: item.path, kind: item.kind, size: UInt64(object.size),
                             linkTarget: item.kind == .link ? object.bytes : [])
    guard let sink = inspect(visit) else { return }
    defer { sink.finish() }
    guard item.kind != .link, let base = object.data else { return }
    var offset = 0
    while offset < object.size {
        let count = min(1 << 20, object.size - offset)
        if !sink.consume(UnsafeRawBufferPointer(start: base + offset, count: count)) { return }
        offset += count
    }
}

/// Why a single path component cannot appear in a release tree, or nil when it can.
public func invalidNameReason(_ name: [UInt8]) -> String? { invalidNameReason(name[...]) }

/// Why a single path component cannot appear in a release tree, or nil when it can.
public func invalidNameReason(_ name: ArraySlice<UInt8>) -> String? {
    if name.isEmpty { return "empty name" }
    if name.elementsEqual(dot) || name.elementsEqual(dotDot) { return "'.' and '..' are not file names" }
    if name.contains(UInt8(ascii: "/")) { return "a name cannot contain '/'" }
    if name.contains(0) { return "a name cannot contain NUL" }
    if name.elementsEqual(dotGit) { return "'.git' is reserved for git's own data" }
    return nil
}

private let dot: [UInt8] = [0x2E]
private let dotDot: [UInt8] = [0x2E, 0x2E]
private let dotGit = Array(".git".utf8)

/// Limits on the shape of a tree, far above any real release (a million files, paths of a
/// hundred bytes). A few kilobytes of trees can name billions of paths by sharing subtrees, or
/// nest deeper than any checkout could hold; such a tree is refused, naming the path where a
/// limit was passed, before memory or the stack runs out.
public enum TreeLimits {
    /// Levels in a path (`a/b/c` has 3); git's own `core.maxTreeDepth` is of the same order.
    public static let depth = 4096
    /// Paths, directories included.
    public static let entries = 1 << 22
    /// Bytes in one path.
    public static let pathBytes = 1 << 16
    /// Bytes in all paths together: 64 bytes a path on average at the largest count.
    public static let totalPathBytes = 1 << 28
}

private let treeMode = Array("40000".utf8)

/// What a blob entry's mode makes it, or nil for a mode git does not write.
private func entryKind(_ mode: ArraySlice<UInt8>) -> EntryKind? {
    switch String(decoding: mode, as: UTF8.self) {
    // 100664 is a mode very old git wrote for plain files; git reads it as 100644.
    case "100644", "100664": .file
    case "100755": .exec
    case "120000": .link
    case "160000": .submodule
    default: nil
    }
}


/// A path for a message: escaped, and when long only its start and end.
func messagePath(_ raw: [UInt8]) -> String {
    let text = Escaping.escape(raw)
    return text.count <= 240 ? text : "\(text.prefix(120))…\(text.suffix(120))"
}

extension GitReader {
    /// As `read`, but the entries are those `git archive REV | tar -x` leaves on disk: the
    /// archived commit's `.gitattributes` applied (`export-ignore` on files and directories,
    /// `export-subst`, `ident`, `eol=crlf`), no gitlinks (git writes an empty directory), symlinks
    /// as stored. Sizes, digests and what `inspect` sees are of the converted bytes; every blob's
    /// id is still checked against its stored bytes before conversion.
    ///
    /// The commit's `.gitattributes` decide, as `git archive REV` (tar format, no
    /// `--worktree-attributes`) applies them here, with git's configuration and attributes files
    /// as `environment` finds them: a setting that would make git write another tree is refused
    /// by name (`ArchiveSettingsCheck`, `ArchivePlan.checkOutsideAttributes`), and
    /// `core.bigFileThreshold` is applied (a larger blob without `export-subst` is written as
    /// stored). When `archive` is false this is exactly
    /// `read(repositoryPath:revision:workers:progress:inspect:)`.
    /// - Throws: what `read` throws, and `GitError` naming the file (and line or placeholder) for
    ///   what archive mode cannot reproduce: a `filter` whose driver git's config here defines,
    ///   `working-tree-encoding`, a `$Format$` placeholder it does not expand (or `%h`,
    ///   `%t`, `%p` when `core.abbrev`, alternates or a multi-pack index would change git's
    ///   length), a `.gitattributes` that is not a regular file or has a line git and libgit2
    ///   read differently (see `ArchivePlan.checkAttributesFile`), a ref under `refs/replace/`,
    ///   or a setting or attributes file outside the commit that changes git's output, named
    ///   with the file or variable it comes from.
    public static func read(repositoryPath: String, revision: String, archive: Bool,
                            environment: GitEnvironment = .current,
                            workers: Int = defaultWorkerCount, progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> GitSnapshot {
        guard archive else {
            return try read(repositoryPath: repositoryPath, revision: revision, workers: workers,
                            progress: progress, inspect: inspect)
        }
        let (resolved, work, readOrder) = try plan(repositoryPath, revision)
        var parsedCommit = git_oid()
        guard git_oid_fromstrn(&parsedCommit, resolved.commit, 40) == 0 else {
            throw GitError("git_oid_fromstrn", "commit \(resolved.commit)")
        }
        let commit = parsedCommit
        let repository = try GitRepositoryHandle(path: repositoryPath)
        let objects = try GitObjectDatabase(repository)
        let config = try GitSettings(repository, environment: environment)
        try ArchiveSettingsCheck.refuseChanging(config)
        let bigFiles = ArchiveSettingsCheck.bigFileThresholds(config)
        guard let commonDirectory = git_repository_commondir(repository.pointer) else {
            throw GitError("git_repository_commondir", repositoryPath)
        }
        let outside = try ArchiveSettingsCheck.outsideAttributeFiles(config, commonDirectory: String(cString: commonDirectory))
        let format = try CommitFormatBuilder.build(repository: repository, objects: objects, commit: commit, config: config)
        let (kept, hasAttributes) = try ArchivePlan.keptPaths(work.map { ($0.path, $0.kind, $0.oid) },
                                                              objects: objects, commit: commit, outside: outside)
        let entries = try parallelMap(
            count: work.count, workers: workers, order: readOrder,
            makeState: { () throws -> (GitObjectDatabase, ArchiveAttributeLookup) in
                let odb = try GitObjectDatabase(GitRepositoryHandle(path: repositoryPath))
                return (odb, try ArchiveAttributeLookup(odb, commit: commit))
            },
            progress: progress
        ) { state, index -> TreeEntry? in
            let item = work[index]
            guard kept[index] else { return nil }
            guard hasAttributes else { return try hashBlob(state.0, item, inspect: inspect) }
            let attributes = try state.1.attributes(of: item.path)
            if attributes.exportIgnore { return nil }
            guard item.kind.isRegularFile, attributes.changesBytes else { return try hashBlob(state.0, item, inspect: inspect) }
            var oid = git_oid()
            withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: item.oid) }
            // git streams a blob past core.bigFileThreshold as stored, unless export-subst is set.
            if !attributes.exportSubst {
                var size = 0
                var type = GIT_OBJECT_INVALID
                guard git_odb_read_header(&size, &type, state.0.pointer, &oid) == 0 else {
                    throw GitError("git_odb_read_header", "blob for '\(messagePath(item.path))'")
                }
                if Int64(size) > bigFiles.upperBound { return try hashBlob(state.0, item, inspect: inspect) }
                if Int64(size) > bigFiles.lowerBound {
                    throw GitError(settingsFunction, "'\(messagePath(item.path))'",
                                   message: "'\(messagePath(item.path))' is \(size) bytes, and core.bigFileThreshold is set to values from "
                                   + "\(bigFiles.lowerBound) to \(bigFiles.upperBound): whether git archive converts it depends on which one git reads last")
                }
            }
            try ArchivePlan.checkReproducible(attributes, path: item.path, settings: config)
            // The stored bytes are checked against the blob id before anything is converted.
            var bytes = try state.0.readVerified(oid, GIT_OBJECT_BLOB, what: "blob for '\(messagePath(item.path))'").bytes
            if attributes.ident { bytes = ArchiveConversion.expandIdent(bytes, blobId: hex(oid)) }
            bytes = ArchiveConversion.convertLineEndings(bytes, attributes.lineEndings)
            if attributes.exportSubst { bytes = try ArchiveConversion.expandSubst(bytes, path: item.path, commit: format) }
            if let inspect { deliver(bytes, item, to: inspect) }
            return TreeEntry(path: item.path, kind: item.kind, size: UInt64(bytes.count), digest: SHA256.hash(bytes))
        }
        return GitSnapshot(revision: resolved, entries: entries.compactMap { $0 })
    }
}

/// Shows converted bytes to `inspect`, in chunks of at most 1 MiB.
private func deliver(_ bytes: [UInt8], _ item: PendingBlob, to inspect: ContentInspector) {
    guard let sink = inspect(ContentVisit(path: item.path, kind: item.kind, size: UInt64(bytes.count))) else { return }
    defer { sink.finish() }
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let count = min(1 << 20, buffer.count - offset)
            if !sink.consume(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)])) { return }
            offset += count
        }
    }
}

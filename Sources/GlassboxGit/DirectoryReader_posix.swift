#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GlassboxCrypto

/// A path in a directory could not be read, or is something a release cannot contain.
public struct ReadError: Error, CustomStringConvertible, Sendable {
    /// The path on disk.
    public let path: String
    public let message: String
    /// The C error number behind the failure, or 0: lets a missing optional file (a loose ref)
    /// be told from a broken one.
    let code: Int32

    public var description: String { "\(path): \(message)" }

    init(_ path: String, _ message: String, code: Int32 = 0) {
        self.path = path
        self.message = message
        self.code = code
    }

    init(_ path: [UInt8], _ message: String, code: Int32 = 0) {
        self.init(messagePath(path), message, code: code)
    }

    static func errno(_ path: [UInt8], _ what: String) -> ReadError {
        let code = Glibc.errno
        return ReadError(path, "\(what): \(String(cString: strerror(code)))", code: code)
    }
}

/// A directory tree as read from disk, with what was deliberately not read as files.
public struct DirectoryTree: Sendable, Equatable {
    /// Every file and symlink read, and every submodule checkout whose commit was read, in path order.
    public var entries: [TreeEntry]
    /// Whether the root's own `.git` (a directory or a file) was skipped.
    public var skippedRootGit: Bool
    /// Every other entry named `.git`, neither read nor descended into, in path order.
    public var nestedGit: [[UInt8]]
    /// Every directory at a submodule path, in path order.
    public var submoduleCheckouts: [SubmoduleCheckout]

    /// A tree from its parts, as `DirectoryReader.readTree` returns it.
    public init(entries: [TreeEntry], skippedRootGit: Bool, nestedGit: [[UInt8]], submoduleCheckouts: [SubmoduleCheckout]) {
        self.entries = entries
        self.skippedRootGit = skippedRootGit
        self.nestedGit = nestedGit
        self.submoduleCheckouts = submoduleCheckouts
    }
}

/// A directory at a path the manifest lists as a submodule: read as a pinned commit, not as files.
public struct SubmoduleCheckout: Sendable, Equatable {
    /// The directory's path in the tree.
    public var path: [UInt8]
    /// The commit (40 lowercase hex digits) the checkout's HEAD names, or nil when the directory is
    /// empty (as `git archive` leaves it) or its HEAD cannot be read.
    public var commit: String?
    /// Files and symlinks under the directory (its `.git` aside), whose content the manifest
    /// does not cover; counted without reading, up to `DirectoryReader.countLimit` entries.
    public var filesNotChecked: Int

    /// A checkout record from its parts.
    public init(path: [UInt8], commit: String?, filesNotChecked: Int) {
        self.path = path
        self.commit = commit
        self.filesNotChecked = filesNotChecked
    }
}

/// Reads release trees from directories (an unpacked tarball, a checkout, a review-room copy).
///
/// The root is opened once (a symlink naming the root is followed, as the user named it); every
/// path below it is opened one component at a time from its parent directory with `O_NOFOLLOW`,
/// so a directory swapped for a symlink while the tree is read is an error, never a way out of
/// the tree. Symlinks are recorded, never followed; the owner's executable bit decides `exec`,
/// as git does. Nothing is ever written.
public enum DirectoryReader {
    /// Lists and hashes every path under `root`.
    ///
    /// Entries named `.git` are neither read nor descended into: the root's own is reported in
    /// `skippedRootGit` (or, with `skipRootGit` false, in `nestedGit`), every other one in
    /// `nestedGit`. A directory at one of `submodulePaths` is read as a submodule checkout: its
    /// HEAD gives a `.submodule` entry (see `SubmoduleCheckout`), and its files are only counted.
    /// `inspect`, when given, sees every path's content in the same pass (see `ContentVisit`),
    /// from worker threads.
    /// - Throws: `ReadError` naming the path for special files (fifo, socket, device), unreadable
    ///   files or directories, names a release cannot hold, a path that changed from a directory
    ///   to a symlink or file while being read, and a submodule `.git` file pointing outside the root.
    public static func readTree(root: String,
                                submodulePaths: Set<[UInt8]> = [],
                                skipRootGit: Bool = true,
                                workers: Int = defaultWorkerCount,
                                progress: ProgressHandler? = nil,
                                inspect: ContentInspector? = nil) throws -> DirectoryTree {
        let tree = try OpenRoot(Array(root.utf8))
        let listing = try list(tree, submodulePaths: submodulePaths, skipRootGit: skipRootGit, workers: workers)
        let files = listing.files
        var entries = try parallelMap(
            count: files.count, workers: workers,
            makeState: { (ReadBuffer(), DirectoryCursor(tree)) }, progress: progress
        ) { state, index -> TreeEntry in
            let path = files[index]
            let (kind, size, digest) = try hashFile(state.1, path, state.0, inspect: inspect)
            return TreeEntry(path: path, kind: kind, size: size, digest: digest)
        }
        for link in listing.links {
            inspect?(ContentVisit(path: link.path, kind: .link, size: UInt64(link.target.count), linkTarget: link.target))?.finish()
            entries.append(TreeEntry(path: link.path, kind: .link, size: UInt64(link.target.count), digest: SHA256.hash(link.target)))
        }
        var checkouts: [SubmoduleCheckout] = []
        for path in listing.submodules {
            let checkout = try readCheckout(tree, path)
            checkouts.append(checkout)
            if let commit = checkout.commit {
                inspect?(ContentVisit(path: path, kind: .submodule, size: 0))?.finish()
                entries.append(TreeEntry(path: path, kind: .submodule, size: 0, digest: rawCommit(commit)))
            }
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        checkouts.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return DirectoryTree(entries: entries, skippedRootGit: listing.rootGit,
                             nestedGit: listing.nestedGit.sorted { $0.lexicographicallyPrecedes($1) },
                             submoduleCheckouts: checkouts)
    }

    /// Lists and hashes every path under `root`, skipping every `.git` without saying so and
    /// reading no submodule checkout: `readTree` says what was skipped.
    /// - Throws: as `readTree`.
    public static func read(root: String,
                            workers: Int = defaultWorkerCount,
                            progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> [TreeEntry] {
        try readTree(root: root, workers: workers, progress: progress, inspect: inspect).entries
    }

    /// Shows every path's content (a file's bytes, a symlink's target) to `inspect`, on
    /// `workers` threads, without hashing. Returns every path with its kind and size (no
    /// content digest), in path order; `.git` entries are skipped as in `read`.
    /// - Throws: as `readTree`.
    public static func visit(root: String, workers: Int = defaultWorkerCount,
                             inspect: @escaping ContentInspector) throws -> [TreeEntry] {
        let tree = try OpenRoot(Array(root.utf8))
        let listing = try list(tree, submodulePaths: [], skipRootGit: true, workers: workers)
        let files = listing.files
        var entries = try parallelMap(
            count: files.count, workers: workers,
            makeState: { (ReadBuffer(), DirectoryCursor(tree)) }, progress: nil
        ) { state, index -> TreeEntry in
            let path = files[index]
            let (kind, size, _) = try hashFile(state.1, path, state.0, inspect: inspect, hash: false)
            return TreeEntry(path: path, kind: kind, size: size, digest: [])
        }
        for link in listing.links {
            inspect(ContentVisit(path: link.path, kind: .link, size: UInt64(link.target.count), linkTarget: link.target))?.finish()
            entries.append(TreeEntry(path: link.path, kind: .link, size: UInt64(link.target.count), digest: []))
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return entries
    }

    /// Reads one file or symlink, named by its base name. The directory holding it may be named
    /// through symlinks; the file itself is not followed.
    /// - Throws: `ReadError` for a directory, a special file, or an unreadable file.
    public static func readSingle(path: String) throws -> TreeEntry {
        let full = Array(path.utf8)
        let slash = full.lastIndex(of: UInt8(ascii: "/"))
        let name = Array(slash.map { full[($0 + 1)...] } ?? full[...])
        if name.isEmpty || name == [UInt8(ascii: ".")] || name == Array("..".utf8) {
            throw ReadError(path, "is a directory")
        }
        let parent: [UInt8] = slash.map { $0 == 0 ? [UInt8(ascii: "/")] : Array(full[..<$0]) } ?? [UInt8(ascii: ".")]
        let directory = try OpenRoot(parent)
        var st = stat()
        guard withCPath(name, { fstatat(directory.fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw ReadError.errno(full, "cannot stat")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let (kind, size, digest) = try hashOpenedFile(try openFile(directory.fd, name, shown: full), full, ReadBuffer(),
                                                          shownAs: name, inspect: nil, hash: true)
            return TreeEntry(path: name, kind: kind, size: size, digest: digest)
        case S_IFLNK:
            let target = try readLink(directory.fd, name, full)
            return TreeEntry(path: name, kind: .link, size: UInt64(target.count), digest: SHA256.hash(target))
        case S_IFDIR: throw ReadError(path, "is a directory")
        default: throw ReadError(path, "is not a regular file or symlink")
        }
    }

    /// The content of `path` under `root`: a regular file's bytes or a symlink's target. Every
    /// component of `path` is opened without following symlinks.
    /// - Throws: `ReadError` for anything else, or a path leaving the tree.
    public static func content(root: String, path: [UInt8], limit: Int = Int.max) throws -> [UInt8] {
        let tree = try OpenRoot(Array(root.utf8))
        let full = tree.shown(path)
        let (parent, name) = split(path)
        let directory = try tree.openDirectory(parent)
        defer { close(directory) }
        var st = stat()
        guard withCPath(name, { fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw ReadError.errno(full, "cannot stat")
        }
        if st.st_mode & S_IFMT == S_IFLNK { return try readLink(directory, name, full) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw ReadError(full, "is not a regular file") }
        let fd = try openFile(directory, name, shown: full)
        defer { close(fd) }
        let buffer = ReadBuffer()
        var out: [UInt8] = []
        while let count = try readChunk(fd, buffer, full) {
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer.pointer, count: count))
            guard out.count <= limit else { throw ReadError(full, "holds more than the \(limit) bytes expected (changed while being read?)") }
        }
        return out
    }

    // MARK: - Listing

    private struct Link: Sendable {
        var path: [UInt8]
        var target: [UInt8]
    }

    private struct Listing: Sendable {
        var files: [[UInt8]] = []
        var links: [Link] = []
        var directories: [[UInt8]] = []
        var submodules: [[UInt8]] = []
        var nestedGit: [[UInt8]] = []
        var rootGit = false
    }

    /// Every regular file's path, every symlink read, every `.git` and submodule directory met:
    /// directories are listed level by level, each level's directories in parallel.
    private static func list(_ tree: OpenRoot, submodulePaths: Set<[UInt8]>, skipRootGit: Bool,
                             workers: Int) throws -> Listing {
        var all = Listing()
        var level: [[UInt8]] = [[]]
        while !level.isEmpty {
            let current = level
            let listed = try parallelMap(count: current.count, workers: workers,
                                         makeState: { DirectoryCursor(tree) }, progress: nil) { cursor, index in
                try listOne(cursor, current[index], submodulePaths: submodulePaths, skipRootGit: skipRootGit)
            }
            level = []
            for item in listed {
                all.files += item.files
                all.links += item.links
                all.submodules += item.submodules
                all.nestedGit += item.nestedGit
                all.rootGit = all.rootGit || item.rootGit
                level += item.directories
            }
        }
        return all
    }

    /// One directory's entries: files to hash, symlinks read, subdirectories to list.
    private static func listOne(_ cursor: DirectoryCursor, _ relative: [UInt8], submodulePaths: Set<[UInt8]>,
                                skipRootGit: Bool) throws -> Listing {
        var out = Listing()
        let tree = cursor.tree
        try forEachEntry(try cursor.openForListing(relative), tree.shown(relative)) { directory, name, type in
            let path = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            if name == gitName {
                if relative.isEmpty && skipRootGit { out.rootGit = true } else { out.nestedGit.append(path) }
                return
            }
            if let problem = invalidNameReason(name) { throw ReadError(tree.shown(path), problem) }
            switch Int(try resolvedType(directory, name, type, tree.shown(path))) {
            case Int(DT_DIR):
                if !submodulePaths.isEmpty && submodulePaths.contains(path) {
                    out.submodules.append(path)
                } else {
                    out.directories.append(path)
                }
            case Int(DT_REG): out.files.append(path)   // exec bit and size come from fstat when hashed
            case Int(DT_LNK): out.links.append(Link(path: path, target: try readLink(directory, name, tree.shown(path))))
            case Int(DT_FIFO): throw ReadError(tree.shown(path), "is a fifo; a release holds only files, symlinks and directories")
            case Int(DT_SOCK): throw ReadError(tree.shown(path), "is a socket; a release holds only files, symlinks and directories")
            case Int(DT_CHR), Int(DT_BLK): throw ReadError(tree.shown(path), "is a device; a release holds only files, symlinks and directories")
            default: throw ReadError(tree.shown(path), "is of an unknown file type")
            }
        }
        return out
    }

    /// readdir's d_type saves a stat per entry; only an unknown type needs one.
    static func resolvedType(_ directory: Int32, _ name: [UInt8], _ type: UInt8, _ shown: [UInt8]) throws -> UInt8 {
        if type != UInt8(DT_UNKNOWN) { return type }
        var st = stat()
        guard withCPath(name, { fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw ReadError.errno(shown, "cannot stat")
        }
        return UInt8((st.st_mode & S_IFMT) >> 12)
    }

    /// Lists the directory open at `fd` (taking ownership of it): calls `body` with the
    /// directory's descriptor, each entry's name and its d_type, skipping `.` and `..`.
    static func forEachEntry(_ fd: Int32, _ shown: [UInt8], _ body: (Int32, [UInt8], UInt8) throws -> Void) throws {
        guard let dir = fdopendir(fd) else {
            let error = ReadError.errno(shown, "cannot list directory")
            close(fd)
            throw error
        }
        defer { closedir(dir) }
        let directory = dirfd(dir)
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw ReadError.errno(shown, "cannot list directory") }
                return
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == Array("..".utf8) { continue }
            try body(directory, name, entry.pointee.d_type)
        }
    }

    // MARK: - Files and symlinks

    /// Hashes the file at `path` (relative to the root), opened from its parent directory. With
    /// `inspect`, each chunk is also shown to the sink it returns for the file; without `hash`,
    /// nothing is hashed.
    private static func hashFile(_ cursor: DirectoryCursor, _ path: [UInt8], _ buffer: ReadBuffer,
                                 inspect: ContentInspector?, hash: Bool = true) throws -> (EntryKind, UInt64, [UInt8]) {
        let (parent, name) = split(path)
        let directory = try cursor.directory(parent)
        let shown = cursor.tree.shown(path)
        return try hashOpenedFile(try openFile(directory, name, shown: shown), shown, buffer,
                                  shownAs: path, inspect: inspect, hash: hash)
    }

    /// Hashes the open file `fd` (taking ownership of it) in chunks, showing them to `inspect`.
    private static func hashOpenedFile(_ fd: Int32, _ shown: [UInt8], _ buffer: ReadBuffer, shownAs relative: [UInt8],
                                       inspect: ContentInspector?, hash: Bool) throws -> (EntryKind, UInt64, [UInt8]) {
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ReadError(shown, "changed while being read: no longer a regular file")
        }
        let kind: EntryKind = st.st_mode & S_IXUSR != 0 ? .exec : .file
        var sink = inspect?(ContentVisit(path: relative, kind: kind, size: UInt64(st.st_size)))
        defer { sink?.finish() }
        let hasher = hash ? SHA256.Hasher() : nil
        var total: UInt64 = 0
        while let count = try readChunk(fd, buffer, shown) {
            hasher?.update(UnsafeRawPointer(buffer.pointer), count: count)
            if let current = sink, !current.consume(UnsafeRawBufferPointer(start: buffer.pointer, count: count)) {
                current.finish()
                sink = nil
                if hasher == nil { break }
            }
            total += UInt64(count)
        }
        return (kind, hasher == nil ? UInt64(st.st_size) : total, hasher?.finish() ?? [])
    }

    /// Opens `name` in `directory` for reading, never through a symlink. O_NONBLOCK keeps a
    /// file swapped for a fifo from blocking the open; the caller's fstat then refuses it.
    static func openFile(_ directory: Int32, _ name: [UInt8], shown: [UInt8]) throws -> Int32 {
        let fd = withCPath(name) { openat(directory, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ELOOP { throw ReadError(shown, "changed while being read: now a symlink", code: ELOOP) }
            throw ReadError.errno(shown, "cannot open")
        }
        return fd
    }

    /// The next chunk of `fd` into `buffer`: its byte count, or nil at the end.
    static func readChunk(_ fd: Int32, _ buffer: ReadBuffer, _ shown: [UInt8]) throws -> Int? {
        while true {
            let count = Glibc.read(fd, buffer.pointer, buffer.size)
            if count > 0 { return count }
            if count == 0 { return nil }
            if errno != EINTR { throw ReadError.errno(shown, "cannot read") }
        }
    }

    /// A symlink's target. A target as long as the buffer may have been cut, so it is refused.
    static func readLink(_ directory: Int32, _ name: [UInt8], _ shown: [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = withCPath(name) { cName in
            buffer.withUnsafeMutableBytes { readlinkat(directory, cName, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard count >= 0 else { throw ReadError.errno(shown, "cannot read symlink") }
        guard count < buffer.count else { throw ReadError(shown, "symlink target is longer than \(buffer.count - 1) bytes") }
        return Array(buffer[0..<count])
    }

    /// A relative path's parent (empty for a top-level name) and last component.
    static func split(_ path: [UInt8]) -> (parent: [UInt8], name: [UInt8]) {
        guard let slash = path.lastIndex(of: UInt8(ascii: "/")) else { return ([], path) }
        return (Array(path[..<slash]), Array(path[(slash + 1)...]))
    }
}

let gitName = Array(".git".utf8)

/// The root directory of a read, open for its whole duration: every path below it is opened
/// relative to it, one component at a time.
final class OpenRoot: Sendable {
    let fd: Int32
    /// The root as given, for messages.
    let path: [UInt8]

    /// Opens `path`, which may be named through symlinks, and must be a directory.
    init(_ path: [UInt8]) throws {
        self.path = path
        fd = withCPath(path) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOTDIR { throw ReadError(path, "not a directory", code: ENOTDIR) }
            throw ReadError.errno(path, "cannot open directory")
        }
    }

    deinit { close(fd) }

    /// `relative` as shown in messages: joined to the root as given.
    func shown(_ relative: [UInt8]) -> [UInt8] {
        if relative.isEmpty { return path }
        return path.last == UInt8(ascii: "/") ? path + relative : path + [UInt8(ascii: "/")] + relative
    }

    /// Opens the directory at `relative` (empty: the root itself) and returns a new descriptor
    /// the caller owns. The walk starts at `base`, an open directory whose relative path is the
    /// first `skipping` bytes of `relative` (the root by default); each further component is
    /// opened with O_NOFOLLOW, so a symlink anywhere below the root is an error, never followed.
    func openDirectory(_ relative: [UInt8], from base: Int32? = nil, skipping: Int = 0) throws -> Int32 {
        var current = base ?? fd
        var owned = false
        defer { if owned { close(current) } }
        var start = skipping
        repeat {
            let end = relative[start...].firstIndex(of: UInt8(ascii: "/")) ?? relative.count
            let name = start == relative.count ? [UInt8(ascii: ".")] : Array(relative[start..<end])
            if start < relative.count && (name.isEmpty || name == [UInt8(ascii: ".")] || name == Array("..".utf8)) {
                throw ReadError(shown(relative), "is not a path inside the tree")
            }
            let next = withCPath(name) { openat(current, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard next >= 0 else {
                let shownPath = shown(Array(relative[..<end]))
                if errno == ELOOP || errno == ENOTDIR {
                    throw ReadError(shownPath, "changed while being read: a symlink or file where a directory was", code: errno)
                }
                throw ReadError.errno(shownPath, "cannot open directory")
            }
            if owned { close(current) }
            current = next
            owned = true
            start = end + 1
        } while start < relative.count
        owned = false
        return current
    }
}

/// One worker's open directory, kept while consecutive paths share it, so a run of files in one
/// directory costs one walk; it holds one descriptor at a time.
final class DirectoryCursor {
    let tree: OpenRoot
    private var path: [UInt8] = []
    private var fd: Int32 = -1

    init(_ tree: OpenRoot) { self.tree = tree }
    deinit { if fd >= 0 { close(fd) } }

    /// The open directory at `relative`, valid until the next call; the caller must not close it.
    func directory(_ relative: [UInt8]) throws -> Int32 {
        if relative.isEmpty { return tree.fd }
        if fd >= 0 && path == relative { return fd }
        // Going deeper from the held directory walks only the new components.
        let below = fd >= 0 && relative.count > path.count && relative.starts(with: path)
            && relative[path.count] == UInt8(ascii: "/")
        let opened = try tree.openDirectory(relative, from: below ? fd : nil, skipping: below ? path.count + 1 : 0)
        if fd >= 0 { close(fd) }
        fd = opened
        path = relative
        return fd
    }

    /// A new descriptor for the directory at `relative`, opened from its parent, for listing.
    func openForListing(_ relative: [UInt8]) throws -> Int32 {
        if relative.isEmpty { return try tree.openDirectory([]) }
        let parent = DirectoryReader.split(relative).parent
        return try tree.openDirectory(relative, from: try directory(parent), skipping: parent.isEmpty ? 0 : parent.count + 1)
    }
}

/// Calls `body` with `path` as a NUL-terminated C string, byte for byte.
func withCPath<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
    try (path + [0]).withUnsafeBufferPointer { buffer in
        try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count, body)
    }
}

/// One worker's read buffer: files are hashed in fixed-size chunks, so memory does not grow
/// with file size.
final class ReadBuffer {
    let size = 1 << 20
    let pointer: UnsafeMutableRawPointer
    init() { pointer = .allocate(byteCount: size, alignment: 64) }
    deinit { pointer.deallocate() }
}

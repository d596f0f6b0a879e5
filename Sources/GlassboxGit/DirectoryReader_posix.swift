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

    public var description: String { "\(path): \(message)" }

    init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    init(_ path: [UInt8], _ message: String) {
        self.init(String(decoding: path, as: UTF8.self), message)
    }

    static func errno(_ path: [UInt8], _ what: String) -> ReadError {
        ReadError(path, "\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

/// Reads release trees from directories (an unpacked tarball, a checkout, a review-room copy).
///
/// Symlinks are recorded, never followed; the owner's executable bit decides `exec`, as git
/// does; entries named `.git` are skipped (git's own data, which no git tree can hold, so the
/// manifest of a checkout equals that of its revision). Nothing is ever written.
public enum DirectoryReader {
    /// Lists and hashes every path under `root`.
    /// - Throws: `ReadError` naming the path for special files (fifo, socket, device), unreadable
    ///   files or directories, and names a release cannot hold.
    ///   `inspect`, when given, sees every path's content in the same pass (see `ContentVisit`),
    ///   from worker threads.
    public static func read(root: String,
                            workers: Int = defaultWorkerCount,
                            progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> [TreeEntry] {
        let rootBytes = Array(root.utf8)
        let (files, links) = try list(root: root, workers: workers)
        let hashed = try parallelMap(
            count: files.count, workers: workers,
            makeState: { ReadBuffer() }, progress: progress
        ) { buffer, index -> TreeEntry in
            let path = files[index]
            let (kind, size, digest) = try hashFile(join(rootBytes, path), buffer, shownAs: path, inspect: inspect)
            return TreeEntry(path: path, kind: kind, size: size, digest: digest)
        }
        if let inspect {
            for link in links {
                let target = try readLink(join(rootBytes, link.path))
                inspect(ContentVisit(path: link.path, kind: .link, size: link.size, linkTarget: target))?.finish()
            }
        }
        var all = hashed
        all += links
        all.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return all
    }

    /// Every regular file's path, and every symlink read, under `root`: directories are listed
    /// level by level, each level's directories in parallel.
    private static func list(root: String, workers: Int) throws -> (files: [[UInt8]], links: [TreeEntry]) {
        let rootBytes = Array(root.utf8)
        var info = stat()
        guard stat(root, &info) == 0 else { throw ReadError.errno(rootBytes, "cannot open directory") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw ReadError(root, "not a directory") }
        var files: [[UInt8]] = []
        var links: [TreeEntry] = []
        var level: [[UInt8]] = [[]]
        while !level.isEmpty {
            let current = level
            let listed = try parallelMap(count: current.count, workers: workers, makeState: { () }, progress: nil) { _, index in
                try listOne(rootBytes, current[index])
            }
            level = []
            for item in listed {
                files += item.files
                links += item.links
                level += item.directories
            }
        }
        return (files, links)
    }

    /// A regular file's kind (exec bit), content and size. With `stopAtBinary`, a binary file
    /// (a NUL in its first 8,000 bytes) is read no further than its start.
    static func readWhole(_ path: [UInt8], _ buffer: ReadBuffer, stopAtBinary: Bool = true) throws -> (EntryKind, [UInt8], UInt64) {
        let fd = withCPath(path) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw ReadError.errno(path, "cannot open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ReadError(path, "changed while being read: no longer a regular file")
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(Int(st.st_size), 1 << 20))
        while true {
            // A binary file (a NUL early on, as git decides) needs only its start to be scanned.
            if stopAtBinary && out.count >= 8000 && out.prefix(8000).contains(0) { break }
            let count = Glibc.read(fd, buffer.pointer, buffer.size)
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError.errno(path, "cannot read")
            }
            if count == 0 { break }
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer.pointer, count: count))
        }
        return (st.st_mode & S_IXUSR != 0 ? .exec : .file, out, UInt64(st.st_size))
    }

    private struct Listing: Sendable {
        var files: [[UInt8]] = []
        var links: [TreeEntry] = []
        var directories: [[UInt8]] = []
    }

    /// One directory's entries: files to hash, symlinks read, subdirectories to list.
    private static func listOne(_ rootBytes: [UInt8], _ relative: [UInt8]) throws -> Listing {
        var out = Listing()
        try forEachEntry(join(rootBytes, relative)) { directory, name, type in
            if name == Array(".git".utf8) { return }
            let path = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            if let problem = invalidNameReason(name) { throw ReadError(join(rootBytes, path), problem) }
            // readdir's d_type saves a stat per entry; only an unknown type needs one.
            var type = type
            if type == UInt8(DT_UNKNOWN) {
                var st = stat()
                guard withCPath(name, { fstatat(dirfd(directory), $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                    throw ReadError.errno(join(rootBytes, path), "cannot stat")
                }
                type = UInt8(st.st_mode & S_IFMT >> 12)
            }
            switch Int(type) {
            case Int(DT_DIR): out.directories.append(path)
            case Int(DT_REG): out.files.append(path)   // exec bit and size come from fstat when hashed
            case Int(DT_LNK):
                let target = try readLink(directory, name, join(rootBytes, path))
                out.links.append(TreeEntry(path: path, kind: .link, size: UInt64(target.count), digest: SHA256.hash(target)))
            case Int(DT_FIFO): throw ReadError(join(rootBytes, path), "is a fifo; a release holds only files, symlinks and directories")
            case Int(DT_SOCK): throw ReadError(join(rootBytes, path), "is a socket; a release holds only files, symlinks and directories")
            case Int(DT_CHR), Int(DT_BLK): throw ReadError(join(rootBytes, path), "is a device; a release holds only files, symlinks and directories")
            default: throw ReadError(join(rootBytes, path), "is of an unknown file type")
            }
        }
        return out
    }

    /// Shows every path's content (a file's bytes, a symlink's target) to `inspect`, on
    /// `workers` threads, without hashing. Returns every path with its kind and size (no
    /// content digest), in path order.
    public static func visit(root: String, workers: Int = defaultWorkerCount,
                             inspect: @escaping ContentInspector) throws -> [TreeEntry] {
        let (files, links) = try list(root: root, workers: workers)
        let rootBytes = Array(root.utf8)
        var entries = try parallelMap(count: files.count, workers: workers, makeState: { ReadBuffer() }, progress: nil) { buffer, index in
            let path = files[index]
            let (kind, size, _) = try hashFile(join(rootBytes, path), buffer, shownAs: path, inspect: inspect, hash: false)
            return TreeEntry(path: path, kind: kind, size: size, digest: [])
        }
        for link in links {
            let target = try readLink(join(rootBytes, link.path))
            inspect(ContentVisit(path: link.path, kind: .link, size: link.size, linkTarget: target))?.finish()
            entries.append(TreeEntry(path: link.path, kind: .link, size: link.size, digest: []))
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        return entries
    }

    /// Reads one file or symlink, named by its base name.
    /// - Throws: `ReadError` for a directory, a special file, or an unreadable file.
    public static func readSingle(path: String) throws -> TreeEntry {
        let full = Array(path.utf8)
        let name = Array(full.split(separator: UInt8(ascii: "/")).last ?? [])
        var st = stat()
        guard withCPath(full, { lstat($0, &st) }) == 0 else { throw ReadError.errno(full, "cannot stat") }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            let (kind, size, digest) = try hashFile(full, ReadBuffer())
            return TreeEntry(path: name, kind: kind, size: size, digest: digest)
        case S_IFLNK:
            let target = try readLink(full)
            return TreeEntry(path: name, kind: .link, size: UInt64(target.count), digest: SHA256.hash(target))
        case S_IFDIR: throw ReadError(path, "is a directory")
        default: throw ReadError(path, "is not a regular file or symlink")
        }
    }

    /// Paths stay raw bytes all the way to the C calls: a Swift String cannot hold invalid UTF-8.
    private static func join(_ root: [UInt8], _ relative: [UInt8]) -> [UInt8] {
        if relative.isEmpty { return root }
        return root.last == UInt8(ascii: "/") ? root + relative : root + [UInt8(ascii: "/")] + relative
    }

    /// Calls `body` with the open directory, each entry's name and its d_type, skipping `.` and `..`.
    private static func forEachEntry(_ path: [UInt8], _ body: (OpaquePointer, [UInt8], UInt8) throws -> Void) throws {
        guard let dir = withCPath(path, { opendir($0) }) else {
            throw ReadError.errno(path, "cannot open directory")
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == Array("..".utf8) { continue }
            try body(dir, name, entry.pointee.d_type)
        }
    }

    private static func readLink(_ directory: OpaquePointer, _ name: [UInt8], _ shownPath: [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = withCPath(name) { cName in
            buffer.withUnsafeMutableBytes { readlinkat(dirfd(directory), cName, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard count >= 0 else { throw ReadError.errno(shownPath, "cannot read symlink") }
        return Array(buffer[0..<count])
    }

    static func readLink(_ path: [UInt8]) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = withCPath(path) { cPath in
            buffer.withUnsafeMutableBytes { readlink(cPath, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard count >= 0 else { throw ReadError.errno(path, "cannot read symlink") }
        return Array(buffer[0..<count])
    }

    /// Hashes a file in chunks. With `inspect`, each chunk is also shown to the sink it returns
    /// for the file (`shownAs` is the path in the tree); without `hash`, nothing is hashed.
    private static func hashFile(_ path: [UInt8], _ buffer: ReadBuffer, shownAs relative: [UInt8] = [],
                                 inspect: ContentInspector? = nil, hash: Bool = true)
        throws -> (EntryKind, UInt64, [UInt8]) {
        let fd = withCPath(path) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw ReadError.errno(path, "cannot open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ReadError(path, "changed while being read: no longer a regular file")
        }
        let kind: EntryKind = st.st_mode & S_IXUSR != 0 ? .exec : .file
        var sink = inspect?(ContentVisit(path: relative, kind: kind, size: UInt64(st.st_size)))
        defer { sink?.finish() }
        let hasher = hash ? SHA256.Hasher() : nil
        var total: UInt64 = 0
        while true {
            let count = Glibc.read(fd, buffer.pointer, buffer.size)
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError.errno(path, "cannot read")
            }
            if count == 0 { break }
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

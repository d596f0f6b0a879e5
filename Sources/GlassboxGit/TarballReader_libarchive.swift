#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CArchive
import GlassboxCrypto

/// A release tarball's files and symlinks, read without unpacking it.
public struct TarballTree: Sendable, Equatable {
    /// Every regular file and symlink, sorted by raw path bytes, each path once; directories are
    /// not entries. Kinds are `.file`, `.exec` and `.link` only.
    public var entries: [TreeEntry]
    /// Directories the archive holds with nothing in them (git archive writes a submodule so),
    /// sorted, with the stripped prefix removed.
    public var emptyDirectories: [[UInt8]] = []
    /// The single top-level directory removed from every path (e.g. `curl-8.21.0`), or nil when
    /// none was removed.
    public var strippedPrefix: [UInt8]?

    /// A tree from its parts, as `TarballReader.read` returns it.
    public init(entries: [TreeEntry], strippedPrefix: [UInt8]?) {
        self.entries = entries
        self.strippedPrefix = strippedPrefix
    }
}

/// A tarball could not be read, or holds something a release cannot contain.
public struct TarballError: Error, CustomStringConvertible, Sendable {
    /// The archive's path, as given.
    public let path: String
    /// The entry's name as the archive spells it, escaped so that every byte is visible (see
    /// `Escaping`); empty when the error concerns the archive as a whole.
    public let entry: String
    public let message: String

    public var description: String { entry.isEmpty ? "\(path): \(message)" : "\(path): \(entry): \(message)" }
}

/// Reads release tarballs (`.tar`, `.tar.gz`, `.tar.xz`, `.tar.bz2`, `.tar.zst`) with libarchive,
/// streaming: nothing is written to disk, and memory follows the number of entries, never the
/// size of a file.
///
/// The archive is hostile. It is refused, naming the entry, when it holds anything `tar -x`
/// could not turn into exactly one plain tree: absolute paths, `..`, `.git`, hard links,
/// devices, fifos, sockets, a path given twice (also after removing `.` and empty components
/// and trailing slashes, which is how `a/./b` or `a//b` would hide a second `a/b`), a file or
/// symlink where a directory is needed, and any header libarchive could only read with a warning.
public enum TarballReader {
    /// Lists and hashes every file and symlink of the tarball at `path`.
    ///
    /// - Parameters:
    ///   - stripComponents: nil strips a single top-level directory when every entry (files,
    ///     symlinks and directories) lies under the same one, and reports it in
    ///     `strippedPrefix`; a number strips exactly that many leading components from every
    ///     path, after `.` and empty components are removed. A directory left with no
    ///     components is the root and is dropped; any other entry with too few is an error.
    ///   - progress: called after each entry with the archive bytes read so far (compressed,
    ///     as on disk) and the archive's size (0 when it is not a regular file).
    ///   - inspect: shown each file's bytes as they stream by, and each symlink's target, on the
    ///     calling thread, in archive order, under the paths the returned entries have (see
    ///     `ContentVisit`). With an inspector and the automatic strip the archive is read twice,
    ///     headers only the first time, so that paths are known before any content is shown.
    /// - Throws: `TarballError` naming the entry for everything listed on `TarballReader`, for
    ///   a truncated or corrupt archive, and for anything that is not a tar archive (zip, cpio…),
    ///   plain or compressed with gzip, xz, bzip2 or zstd.
    public static func read(path: String, stripComponents: Int? = nil, progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> TarballTree {
        if let strip = stripComponents, strip < 0 {
            throw TarballError(path: path, entry: "", message: "cannot strip \(strip) components")
        }
        return try withCLocale(path) {
            guard let inspect, stripComponents == nil else {
                return try walk(path, strip: stripComponents, hash: true, progress: progress, inspect: inspect)
            }
            // The inspector must see the paths the tree will have, but whether a top directory
            // is stripped is known only at the end: a first pass reads the headers alone.
            let prefix = try walk(path, strip: nil, hash: false, progress: nil, inspect: nil).strippedPrefix
            let tree = try walk(path, strip: nil, hash: true, progress: progress, inspect: inspect, shownPrefix: prefix)
            guard tree.strippedPrefix == prefix else {
                throw TarballError(path: path, entry: "", message: "changed while being read")
            }
            return tree
        }
    }

    /// One pass over the archive. Without `hash`, content is skipped and entries have no
    /// digest. `shownPrefix` is the top directory a previous pass found, removed from the paths
    /// shown to `inspect`; an entry outside it means the archive changed between the passes.
    private static func walk(_ path: String, strip stripComponents: Int?, hash: Bool, progress: ProgressHandler?,
                             inspect: ContentInspector?, shownPrefix: [UInt8]? = nil) throws -> TarballTree {
        let archive = try TarArchive(path: path)
        let buffer = ReadBuffer()
        var table = PathTable()
        var entries: [TreeEntry] = []
        var totalPathBytes = 0
        while let entry = try archive.nextHeader() {
            let raw = archive.pathname(entry)
            let fail = { (message: String) in TarballError(path: path, entry: messagePath(raw), message: message) }
            totalPathBytes += raw.count
            guard raw.count <= TreeLimits.pathBytes, totalPathBytes <= TreeLimits.totalPathBytes else {
                throw fail("path is longer than a release tree allows")
            }
            let kind = try nodeKind(archive, entry, fail)
            var components = try normalised(raw, fail)
            if let strip = stripComponents {
                let needed = kind == .directory ? strip : strip + 1
                guard components.count >= needed else {
                    throw fail("has fewer than \(needed) path components, so \(strip) cannot be stripped")
                }
                components.removeFirst(strip)
            }
            if components.isEmpty {
                // The root itself (`./`, or the stripped top directory): nothing to record.
                guard kind == .directory else { throw fail("is a file with an empty path") }
                continue
            }
            guard components.count <= TreeLimits.depth, table.count < TreeLimits.entries else {
                throw fail("the tree is deeper or larger than a release tree allows")
            }
            if let problem = table.add(components, as: kind) { throw fail(problem) }
            if kind == .directory { continue }
            let joined = Array(components.joined(separator: [UInt8(ascii: "/")]))
            var shown = joined
            if let top = shownPrefix {
                guard components.count > 1, components[0].elementsEqual(top) else { throw fail("changed while being read") }
                shown.removeFirst(top.count + 1)
            }
            if kind == .link {
                let target = try linkTarget(archive, entry, fail)
                inspect?(ContentVisit(path: shown, kind: .link, size: UInt64(target.count), linkTarget: target))?.finish()
                entries.append(TreeEntry(path: joined, kind: .link, size: UInt64(target.count),
                                         digest: hash ? SHA256.hash(target) : []))
            } else {
                let fileKind: EntryKind = kind == .exec ? .exec : .file
                let (size, digest) = try hash ? hashContent(archive, entry, shown, fileKind, buffer, inspect, fail)
                    : (UInt64(max(0, archive_entry_size(entry))), [])
                entries.append(TreeEntry(path: joined, kind: fileKind, size: size, digest: digest))
            }
            progress?(archive.bytesRead, archive.size)
        }
        var prefix: [UInt8]?
        var empty = table.emptyDirectories
        if stripComponents == nil, let top = table.soleTopLevelDirectory {
            prefix = top
            for index in entries.indices { entries[index].path.removeFirst(top.count + 1) }
            empty = empty.compactMap { $0.count > top.count + 1 ? Array($0.dropFirst(top.count + 1)) : nil }
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        var tree = TarballTree(entries: entries, strippedPrefix: prefix)
        tree.emptyDirectories = empty
        return tree
    }

    /// What the entry is, from its header; throws for everything but a file, a symlink or a
    /// directory. A hard link is refused whatever type the header also gives it.
    private static func nodeKind(_ archive: TarArchive, _ entry: OpaquePointer,
                                 _ fail: (String) -> TarballError) throws -> PathTable.Kind {
        let only = "; a release holds only files, symlinks and directories"
        if archive_entry_hardlink(entry) != nil { throw fail("is a hard link" + only) }
        switch mode_t(archive_entry_filetype(entry)) {   // libarchive's AE_IF* are the POSIX values
        case S_IFREG: return mode_t(archive_entry_perm(entry)) & S_IXUSR != 0 ? .exec : .file
        case S_IFLNK: return .link
        case S_IFDIR: return .directory
        case S_IFCHR, S_IFBLK: throw fail("is a device" + only)
        case S_IFIFO: throw fail("is a fifo" + only)
        case S_IFSOCK: throw fail("is a socket" + only)
        default: throw fail("is of an unknown file type" + only)
        }
    }

    /// The path's components with empty and `.` ones removed (so `./a//b/` is `a`, `b`).
    /// Throws for an absolute path and for `..` or `.git` anywhere.
    private static func normalised(_ raw: [UInt8], _ fail: (String) -> TarballError) throws -> [ArraySlice<UInt8>] {
        if raw.isEmpty { throw fail("has an empty name") }
        if raw.first == UInt8(ascii: "/") { throw fail("is an absolute path") }
        var components: [ArraySlice<UInt8>] = []
        for component in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if let problem = invalidNameReason(component) { throw fail(problem) }
            components.append(component)
        }
        return components
    }

    /// A symlink's target bytes, as long as a symlink on disk could hold.
    private static func linkTarget(_ archive: TarArchive, _ entry: OpaquePointer,
                                   _ fail: (String) -> TarballError) throws -> [UInt8] {
        guard let pointer = archive_entry_symlink(entry) else { throw fail("is a symlink with an empty target") }
        let target = Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
        if target.isEmpty { throw fail("is a symlink with an empty target") }
        if target.count >= 4096 { throw fail("symlink target is longer than 4095 bytes") }
        return target
    }

    /// Streams a regular file's content through SHA-256 and the inspector's sink, one buffer at
    /// a time; sparse holes come back from libarchive as zeros. The bytes read must be exactly
    /// the size the header gave, which is the size shown to the inspector.
    private static func hashContent(_ archive: TarArchive, _ entry: OpaquePointer, _ path: [UInt8], _ kind: EntryKind,
                                    _ buffer: ReadBuffer, _ inspect: ContentInspector?,
                                    _ fail: (String) -> TarballError) throws -> (UInt64, [UInt8]) {
        guard archive_entry_size_is_set(entry) != 0, archive_entry_size(entry) >= 0 else {
            throw fail("has no valid size in its header")
        }
        let size = UInt64(archive_entry_size(entry))
        var sink = inspect?(ContentVisit(path: path, kind: kind, size: size))
        defer { sink?.finish() }
        let hasher = SHA256.Hasher()
        var total: UInt64 = 0
        while true {
            let count = archive_read_data(archive.pointer, buffer.pointer, buffer.size)
            if count == 0 { break }
            guard count > 0 else { throw fail(archive.failure("archive_read_data", "cannot read the content")) }
            total += UInt64(count)
            guard total <= size else { throw fail("holds more bytes than the \(size) its header gives") }
            hasher.update(UnsafeRawPointer(buffer.pointer), count: count)
            if let current = sink, !current.consume(UnsafeRawBufferPointer(start: buffer.pointer, count: count)) {
                current.finish()
                sink = nil
            }
        }
        // A sparse member may end in a hole (or be one): libarchive stops at the last data
        // block, and the rest up to the size its header gives is zeros, as tar -x writes it.
        if total < size && archive_entry_sparse_count(entry) > 0 {
            memset(buffer.pointer, 0, buffer.size)
            while total < size {
                let count = Int(min(UInt64(buffer.size), size - total))
                hasher.update(UnsafeRawPointer(buffer.pointer), count: count)
                if let current = sink, !current.consume(UnsafeRawBufferPointer(start: buffer.pointer, count: count)) {
                    current.finish()
                    sink = nil
                }
                total += UInt64(count)
            }
        }
        guard total == size else { throw fail("holds \(total) bytes, but its header gives \(size)") }
        return (size, hasher.finish())
    }

    /// Runs `body` with this thread in the C locale. libarchive turns names from pax headers
    /// (UTF-8) into the current locale's character set: in a UTF-8 locale it silently rewrites
    /// them to Unicode NFC, so the bytes read would not be the bytes `tar -x` writes; in the C
    /// locale a name it cannot carry over unchanged (non-ASCII) is a warning, which is refused.
    /// Names in plain ustar or GNU headers are never converted.
    private static func withCLocale<T>(_ path: String, _ body: () throws -> T) throws -> T {
        #if canImport(Glibc)
        let ctypeMask = Int32(1) << LC_CTYPE   // LC_CTYPE_MASK, a macro Swift cannot import
        #else
        let ctypeMask = LC_CTYPE_MASK
        #endif
        guard let c = newlocale(ctypeMask, "C", nil) else {
            throw TarballError(path: path, entry: "", message: "newlocale: cannot make the C locale")
        }
        let previous = uselocale(c)
        defer {
            uselocale(previous)
            freelocale(c)
        }
        return try body()
    }
}

/// One libarchive read handle, configured for tar only and opened on a file; freed exactly once.
final class TarArchive {
    let pointer: OpaquePointer
    let path: String
    /// The archive's size on disk, for progress; 0 when it is not a regular file.
    let size: Int

    /// Opens the tarball at `path` (named through symlinks if the user did so).
    init(path: String) throws {
        guard let pointer = archive_read_new() else {
            throw TarballError(path: path, entry: "", message: "archive_read_new: out of memory")
        }
        self.pointer = pointer
        self.path = path
        var st = stat()
        size = stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? Int(st.st_size) : 0
        // Only the compressions release tarballs use, each built into libarchive: any other
        // filter could run an external program on the hostile bytes (ARCHIVE_WARN when set up).
        // Only tar formats (ustar, pax, GNU, v7): a zip or cpio is "Unrecognized archive format".
        let setup: [(String, (OpaquePointer) -> Int32)] = [
            ("archive_read_support_filter_gzip", archive_read_support_filter_gzip),
            ("archive_read_support_filter_bzip2", archive_read_support_filter_bzip2),
            ("archive_read_support_filter_xz", archive_read_support_filter_xz),
            ("archive_read_support_filter_zstd", archive_read_support_filter_zstd),
            ("archive_read_support_format_tar", archive_read_support_format_tar),
        ]
        for (name, call) in setup where call(pointer) != ARCHIVE_OK {
            throw TarballError(path: path, entry: "", message: failure(name, "this libarchive cannot read tarballs itself"))
        }
        guard archive_read_open_filename(pointer, path, 1 << 16) == ARCHIVE_OK else {
            // libarchive reads the first block here to recognise the compression and format.
            throw TarballError(path: path, entry: "", message: failure("archive_read_open_filename", notTar))
        }
    }

    deinit { archive_read_free(pointer) }

    private var headersRead = 0
    private let notTar = "cannot be read as a tar archive (plain, or compressed with gzip, xz, bzip2 or zstd)"

    /// The next entry's header, owned by the archive and valid until the next call, or nil at
    /// the end. Every ARCHIVE_WARN from a tar header is refused: libarchive 3.6 warns only for
    /// malformed headers (pax records, sparse maps, ACLs, nested special headers) and for a
    /// name it had to change while converting it; unknown pax keywords it ignores silently.
    func nextHeader() throws -> OpaquePointer? {
        var entry: OpaquePointer?
        let status = archive_read_next_header(pointer, &entry)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK, let entry else {
            let name = entry.map { messagePath(self.pathname($0)) } ?? ""
            if status == ARCHIVE_WARN {
                throw TarballError(path: path, entry: name, message: failure("archive_read_next_header",
                                   "header is malformed or its name cannot be read unchanged"))
            }
            let what = headersRead == 0 ? notTar : "is truncated or damaged after \(headersRead) \(headersRead == 1 ? "entry" : "entries")"
            throw TarballError(path: path, entry: "", message: failure("archive_read_next_header", what))
        }
        headersRead += 1
        guard archive_format(pointer) & ARCHIVE_FORMAT_BASE_MASK == ARCHIVE_FORMAT_TAR else {
            throw TarballError(path: path, entry: "", message: "is not a tar archive")
        }
        return entry
    }

    /// The entry's path bytes as the archive gives them (a NUL in tar's own fields ends the name).
    func pathname(_ entry: OpaquePointer) -> [UInt8] {
        guard let name = archive_entry_pathname(entry) else { return [] }
        return Array(UnsafeRawBufferPointer(start: name, count: strlen(name)))
    }

    /// Bytes of the archive file read so far.
    var bytesRead: Int { Int(archive_filter_bytes(pointer, -1)) }

    /// `what`, with the libarchive call that failed and libarchive's own message, escaped.
    func failure(_ function: String, _ what: String) -> String {
        let text = archive_error_string(pointer).map { String(cString: $0) } ?? "failed"
        return "\(what) (\(function): \(Escaping.escape(Array(text.utf8))))"
    }
}

/// Every path seen so far, as a tree of components, to refuse collisions in time linear in the
/// paths' length: a path given twice, and a file or symlink where a directory is needed.
struct PathTable {
    enum Kind: UInt8 {
        /// A directory only known because some path lies below it.
        case implicitDirectory
        case directory, file, exec, link
    }

    private struct Key: Hashable {
        var parent: Int32
        var name: [UInt8]
    }

    private var kinds: [Kind] = [.directory]   // node 0: the root
    /// Each node's parent, and the path of every directory an entry names.
    private var parents: [Int32] = [-1]
    private var directoryPaths: [Int32: [UInt8]] = [:]
    private var children: [Key: Int32] = [:]
    private var topLevelCount = 0
    private var firstTopLevel: (node: Int32, name: [UInt8])?

    /// Paths known, directories included.
    var count: Int { kinds.count }

    /// Records `components` as `kind`; returns why it cannot be, or nil.
    mutating func add(_ components: [ArraySlice<UInt8>], as kind: Kind) -> String? {
        var node: Int32 = 0
        for (index, name) in components.enumerated() {
            let key = Key(parent: node, name: Array(name))
            let last = index == components.count - 1
            guard let existing = children[key] else {
                let created = Int32(kinds.count)
                kinds.append(last ? kind : .implicitDirectory)
                parents.append(node)
                if last && kind == .directory { directoryPaths[created] = Array(components.joined(separator: [UInt8(ascii: "/")])) }
                children[key] = created
                if node == 0 {
                    topLevelCount += 1
                    if firstTopLevel == nil { firstTopLevel = (created, key.name) }
                }
                node = created
                continue
            }
            let found = kinds[Int(existing)]
            if !last {
                switch found {
                case .file, .exec: return "lies under \(shown(components[...index])), which is a file"
                case .link: return "lies under \(shown(components[...index])), which is a symlink; symlinks are never followed"
                case .directory, .implicitDirectory: node = existing
                }
                continue
            }
            if found == .implicitDirectory && kind == .directory {
                kinds[Int(existing)] = .directory
                directoryPaths[existing] = Array(components.joined(separator: [UInt8(ascii: "/")]))
                return nil
            }
            if found == .implicitDirectory {
                return "is a file or symlink, but earlier entries lie under it as a directory"
            }
            return "appears twice (names are compared with '.' and empty components and trailing slashes removed)"
        }
        return nil
    }

    /// The directories named by an entry that nothing lies under, sorted.
    var emptyDirectories: [[UInt8]] {
        let nonEmpty = Set(parents)
        return directoryPaths.filter { !nonEmpty.contains($0.key) }.map(\.value).sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The name of the one top-level path, when there is exactly one and it is a directory.
    var soleTopLevelDirectory: [UInt8]? {
        guard topLevelCount == 1, let top = firstTopLevel else { return nil }
        let kind = kinds[Int(top.node)]
        return kind == .directory || kind == .implicitDirectory ? top.name : nil
    }

    private func shown(_ components: ArraySlice<ArraySlice<UInt8>>) -> String {
        "'" + messagePath(Array(components.joined(separator: [UInt8(ascii: "/")]))) + "'"
    }
}

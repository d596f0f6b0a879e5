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
    /// Every directory path that stripping removed, sorted: the automatic strip's one top-level
    /// directory, or with an explicit count each distinct leading path of 1 to N components.
    /// `tar -x` writes them (without `--strip-components`), so the path rules apply to them too.
    public var strippedDirectories: [[UInt8]] = []

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

    public init(path: String, entry: String, message: String) {
        self.path = path
        self.entry = entry
        self.message = message
    }

    public var description: String { entry.isEmpty ? "\(path): \(message)" : "\(path): \(entry): \(message)" }
}

/// Reads release tarballs (`.tar`, `.tar.gz`, `.tar.xz`, `.tar.bz2`, `.tar.zst`), streaming:
/// nothing is written to disk, and memory follows the number of entries, never the size of a
/// file. The compression layer is removed by `DecompressedFile`, and the tar stream is parsed
/// here (`TarMemberReader`), so that what is read is exactly what GNU tar reads.
///
/// The archive is hostile. Only the subset of tar that every common extractor reads the same
/// way is accepted (Manifests/FORMAT.md § The archive subset accepted): one compression layer
/// that ends where the file ends, exact POSIX or GNU magic, regular files, symlinks and
/// directories with pax or GNU long names, no global header but git archive's comment, no
/// sparse member, nothing but zeros after the end marker. It is refused, naming the header or
/// entry, when it holds anything `tar -x` could not turn into exactly one plain tree: absolute
/// paths, `..`, `.git`, hard links, devices, fifos, a path given twice (also after removing `.`
/// and empty components and trailing slashes, which is how `a/./b` or `a//b` would hide a
/// second `a/b`), a file or symlink where a directory is needed, a name longer than the file
/// system takes.
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
    /// - Throws: `TarballError` naming the entry or header for everything listed on
    ///   `TarballReader`, for a truncated or corrupt archive, and for anything that is not a tar
    ///   archive (zip, cpio…), plain or compressed with gzip, xz, bzip2 or zstd.
    public static func read(path: String, stripComponents: Int? = nil, progress: ProgressHandler? = nil,
                            inspect: ContentInspector? = nil) throws -> TarballTree {
        if let strip = stripComponents, strip < 0 {
            throw TarballError(path: path, entry: "", message: "cannot strip \(strip) components")
        }
        guard let inspect, stripComponents == nil else {
            return try walk(path, { try DecompressedFile(path: path) }, strip: stripComponents, hash: true, progress: progress, inspect: inspect)
        }
        // The inspector must see the paths the tree will have, but whether a top directory
        // is stripped is known only at the end: a first pass reads the headers alone.
        let open = { try DecompressedFile(path: path) }
        let prefix = try walk(path, open, strip: nil, hash: false, progress: nil, inspect: nil).strippedPrefix
        let tree = try walk(path, open, strip: nil, hash: true, progress: progress, inspect: inspect, shownPrefix: prefix)
        guard tree.strippedPrefix == prefix else {
            throw TarballError(path: path, entry: "", message: "changed while being read")
        }
        return tree
    }

    /// The same reading of an archive held in memory, for the fuzz checks: `name` stands for
    /// its path in errors, and the parser is handed at most `chunk` bytes per read.
    package static func read(bytes: [UInt8], name: String, chunk: Int, stripComponents: Int?,
                             inspect: ContentInspector? = nil) throws -> TarballTree {
        let open = { try DecompressedFile(bytes: bytes, name: name, chunk: chunk) }
        if let strip = stripComponents, strip < 0 {
            throw TarballError(path: name, entry: "", message: "cannot strip \(strip) components")
        }
        guard let inspect, stripComponents == nil else {
            return try walk(name, open, strip: stripComponents, hash: true, progress: nil, inspect: inspect)
        }
        let prefix = try walk(name, open, strip: nil, hash: false, progress: nil, inspect: nil).strippedPrefix
        return try walk(name, open, strip: nil, hash: true, progress: nil, inspect: inspect, shownPrefix: prefix)
    }

    /// Longest name and path `tar -x` can create on Linux (NAME_MAX, PATH_MAX less its NUL).
    static let nameBytes = 255, pathBytes = 4095

    /// One pass over the archive. Without `hash`, content is skipped and entries have no
    /// digest. `shownPrefix` is the top directory a previous pass found, removed from the paths
    /// shown to `inspect`; an entry outside it means the archive changed between the passes.
    private static func walk(_ path: String, _ open: () throws -> DecompressedFile,
                             strip stripComponents: Int?, hash: Bool, progress: ProgressHandler?,
                             inspect: ContentInspector?, shownPrefix: [UInt8]? = nil) throws -> TarballTree {
        let file: DecompressedFile
        do { file = try open() } catch let error as DecompressionError {
            throw TarballError(path: path, entry: "", message: error.message)
        }
        let archive = TarMemberReader(file)
        let buffer = ReadBuffer()
        var table = PathTable()
        var entries: [TreeEntry] = []
        var stripped = Set<[UInt8]>()
        var totalPathBytes = 0
        while true {
            let member: TarMember
            do {
                guard let next = try archive.next() else { break }
                member = next
            } catch let failure as TarMemberReader.Failure {
                throw TarballError(path: path, entry: failure.path.isEmpty ? "" : messagePath(failure.path), message: failure.message)
            }
            let raw = member.path
            let fail = { (message: String) in TarballError(path: path, entry: messagePath(raw), message: message) }
            totalPathBytes += raw.count
            guard raw.count <= pathBytes, totalPathBytes <= TreeLimits.totalPathBytes else {
                throw fail("path is longer than tar -x can create (\(pathBytes) bytes) or than a release tree allows")
            }
            let kind: PathTable.Kind = switch member.kind {
            case .file: member.mode & 0o100 != 0 ? .exec : .file
            case .link: .link
            case .directory: .directory
            }
            var components = try normalised(raw, fail)
            // `tar -x` creates the name as spelt: `link/.` or `file/` is no symlink or file it can make.
            let last = raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).last ?? []
            if kind != .directory && (last.isEmpty || last.elementsEqual([UInt8(ascii: ".")])) {
                throw fail("a file or symlink's name ends with '/' or '/.'")
            }
            if let strip = stripComponents {
                let needed = kind == .directory ? strip : strip + 1
                guard components.count >= needed else {
                    throw fail("has fewer than \(needed) path components, so \(strip) cannot be stripped")
                }
                for count in stride(from: 1, through: min(strip, components.count), by: 1) {
                    stripped.insert(Array(components[..<count].joined(separator: [UInt8(ascii: "/")])))
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
                let target = try linkTarget(member, fail)
                inspect?(ContentVisit(path: shown, kind: .link, size: UInt64(target.count), linkTarget: target))?.finish()
                entries.append(TreeEntry(path: joined, kind: .link, size: UInt64(target.count),
                                         digest: hash ? SHA256.hash(target) : []))
            } else {
                let fileKind: EntryKind = kind == .exec ? .exec : .file
                let digest = try hash ? hashContent(archive, member, shown, fileKind, buffer, inspect, path) : []
                entries.append(TreeEntry(path: joined, kind: fileKind, size: member.size, digest: digest))
            }
            progress?(file.bytesRead, file.size)
        }
        var prefix: [UInt8]?
        var empty = table.emptyDirectories
        if stripComponents == nil, let top = table.soleTopLevelDirectory {
            prefix = top
            stripped = [top]
            for index in entries.indices { entries[index].path.removeFirst(top.count + 1) }
            empty = empty.compactMap { $0.count > top.count + 1 ? Array($0.dropFirst(top.count + 1)) : nil }
        }
        entries.sort { $0.path.lexicographicallyPrecedes($1.path) }
        var tree = TarballTree(entries: entries, strippedPrefix: prefix)
        tree.emptyDirectories = empty
        tree.strippedDirectories = stripped.sorted { $0.lexicographicallyPrecedes($1) }
        return tree
    }

    /// The path's components with empty and `.` ones removed (so `./a//b/` is `a`, `b`).
    /// Throws for an absolute path, for `..` or `.git` anywhere, and for a name longer than a
    /// file system takes.
    private static func normalised(_ raw: [UInt8], _ fail: (String) -> TarballError) throws -> [ArraySlice<UInt8>] {
        if raw.isEmpty { throw fail("has an empty name") }
        if raw.first == UInt8(ascii: "/") { throw fail("is an absolute path") }
        var components: [ArraySlice<UInt8>] = []
        for component in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if let problem = invalidNameReason(component) { throw fail(problem) }
            if component.count > nameBytes { throw fail("a name is longer than the \(nameBytes) bytes tar -x can create") }
            components.append(component)
        }
        return components
    }

    /// A symlink's target bytes, as long as a symlink on disk could hold.
    private static func linkTarget(_ member: TarMember, _ fail: (String) -> TarballError) throws -> [UInt8] {
        let target = member.linkTarget
        if target.isEmpty { throw fail("is a symlink with an empty target") }
        if target.count >= 4096 { throw fail("symlink target is longer than 4095 bytes") }
        return target
    }

    /// Streams a regular file's content through SHA-256 and the inspector's sink, one buffer at
    /// a time; the bytes read are exactly the size the header gave.
    private static func hashContent(_ archive: TarMemberReader, _ member: TarMember, _ shownPath: [UInt8], _ kind: EntryKind,
                                    _ buffer: ReadBuffer, _ inspect: ContentInspector?, _ path: String) throws -> [UInt8] {
        var sink = inspect?(ContentVisit(path: shownPath, kind: kind, size: member.size))
        defer { sink?.finish() }
        let hasher = SHA256.Hasher()
        let chunk = UnsafeMutableRawBufferPointer(start: buffer.pointer, count: buffer.size)
        while true {
            let count: Int
            do { count = try archive.readContent(chunk) } catch let failure as TarMemberReader.Failure {
                throw TarballError(path: path, entry: messagePath(member.path), message: failure.message)
            }
            if count == 0 { break }
            hasher.update(UnsafeRawPointer(buffer.pointer), count: count)
            if let current = sink, !current.consume(UnsafeRawBufferPointer(start: buffer.pointer, count: count)) {
                current.finish()
                sink = nil
            }
        }
        return hasher.finish()
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

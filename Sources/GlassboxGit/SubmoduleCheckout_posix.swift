#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads what a submodule checkout's git data says its HEAD is, without libgit2: only HEAD, a
/// loose ref and `packed-refs` are read, every one through the same no-symlink walk from the
/// root, and a `.git` file may only point inside the tree.
extension DirectoryReader {
    /// At most this many entries are counted under a submodule checkout.
    public static let countLimit = 1_000_000

    /// The checkout at `path`: empty, or its HEAD's commit and the files it holds.
    static func readCheckout(_ tree: OpenRoot, _ path: [UInt8]) throws -> SubmoduleCheckout {
        let (files, isEmpty) = try countFiles(tree, under: path)
        if isEmpty { return SubmoduleCheckout(path: path, commit: nil, filesNotChecked: 0) }
        return SubmoduleCheckout(path: path, commit: try headCommit(tree, submodule: path), filesNotChecked: files)
    }

    /// Counts everything but directories under `path`, its `.git` entries aside, without
    /// reading any file; stops after `countLimit` entries.
    private static func countFiles(_ tree: OpenRoot, under path: [UInt8]) throws -> (files: Int, isEmpty: Bool) {
        let cursor = DirectoryCursor(tree)
        var files = 0
        var seen = 0
        var isEmpty = true
        var pending = [path]
        while seen < countLimit, let directory = pending.popLast() {
            try forEachEntry(try cursor.openForListing(directory), tree.shown(directory)) { fd, name, type in
                isEmpty = false
                if name == gitName || seen >= countLimit { return }
                seen += 1
                let child = directory + [UInt8(ascii: "/")] + name
                if try resolvedType(fd, name, type, tree.shown(child)) == UInt8(DT_DIR) {
                    pending.append(child)
                } else {
                    files += 1
                }
            }
        }
        return (files, isEmpty)
    }

    /// The commit the submodule's HEAD names, or nil when there is no `.git` or HEAD is unreadable.
    /// - Throws: `ReadError` for a `.git` symlink, a `gitdir:` leaving the tree, or a symlink on the way.
    private static func headCommit(_ tree: OpenRoot, submodule path: [UInt8]) throws -> String? {
        let gitPath = path + [UInt8(ascii: "/")] + gitName
        let directory = try tree.openDirectory(path)
        defer { close(directory) }
        var st = stat()
        guard withCPath(gitName, { fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            if errno == ENOENT { return nil }
            throw ReadError.errno(tree.shown(gitPath), "cannot stat")
        }
        let gitDirectory: [UInt8]
        switch st.st_mode & S_IFMT {
        case S_IFDIR: gitDirectory = gitPath
        case S_IFREG:
            guard let text = try readSmallFile(tree, gitPath),
                  let target = gitdirTarget(text) else { return nil }
            gitDirectory = try resolve(target, from: path, shown: tree.shown(gitPath))
        case S_IFLNK: throw ReadError(tree.shown(gitPath), "is a symlink; a submodule's git data is never reached through one")
        default: return nil
        }
        return try resolveHead(tree, gitDirectory)
    }

    /// The path in a `.git` file's `gitdir: PATH` line.
    private static func gitdirTarget(_ text: [UInt8]) -> [UInt8]? {
        let prefix = Array("gitdir: ".utf8)
        let line = firstLine(text)
        guard line.starts(with: prefix), line.count > prefix.count else { return nil }
        return Array(line[prefix.count...])
    }

    /// `target`, relative to the submodule directory at `from`, as a path relative to the root.
    /// - Throws: `ReadError` for an absolute path, a NUL, or `..` leaving the root.
    private static func resolve(_ target: [UInt8], from: [UInt8], shown: [UInt8]) throws -> [UInt8] {
        if target.first == UInt8(ascii: "/") {
            throw ReadError(shown, "names an absolute git directory; only a path inside the tree is read")
        }
        if target.contains(0) { throw ReadError(shown, "names a git directory containing NUL") }
        var components = from.split(separator: UInt8(ascii: "/")).map(Array.init)
        for component in target.split(separator: UInt8(ascii: "/")) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !components.isEmpty else {
                    throw ReadError(shown, "names a git directory outside the tree; only a path inside it is read")
                }
                components.removeLast()
                continue
            }
            components.append(Array(component))
        }
        return Array(components.joined(separator: [UInt8(ascii: "/")]))
    }

    /// HEAD in `gitDirectory`: a commit id, or `ref: refs/…` followed through loose refs (a few
    /// levels) and then `packed-refs`. Nil when it names nothing readable.
    private static func resolveHead(_ tree: OpenRoot, _ gitDirectory: [UInt8]) throws -> String? {
        let base = gitDirectory.isEmpty ? [] : gitDirectory + [UInt8(ascii: "/")]
        guard var text = try readSmallFile(tree, base + Array("HEAD".utf8)) else { return nil }
        let refPrefix = Array("ref: ".utf8)
        for _ in 0..<5 {
            let line = firstLine(text)
            if isCommitId(line) { return String(decoding: line, as: UTF8.self) }
            guard line.starts(with: refPrefix) else { return nil }
            let name = Array(line[refPrefix.count...])
            guard isSafeRefName(name) else { return nil }
            guard let loose = try readSmallFile(tree, base + name) else {
                return try packedRef(tree, base + Array("packed-refs".utf8), name)
            }
            text = loose
        }
        return nil
    }

    /// The commit `packed-refs` gives for `name`, read line by line so its size does not matter.
    private static func packedRef(_ tree: OpenRoot, _ path: [UInt8], _ name: [UInt8]) throws -> String? {
        let shown = tree.shown(path)
        guard let fd = try openIfPresent(tree, path) else { return nil }
        defer { close(fd) }
        func match(_ line: [UInt8]) -> String? {
            guard line.count == 41 + name.count, line[40] == UInt8(ascii: " "),
                  line[41...].elementsEqual(name), isCommitId(line[..<40]) else { return nil }
            return String(decoding: line[..<40], as: UTF8.self)
        }
        let buffer = ReadBuffer()
        var line: [UInt8] = []
        while let count = try readChunk(fd, buffer, shown) {
            let chunk = UnsafeRawBufferPointer(start: buffer.pointer, count: count)
            var start = 0
            for index in 0..<count where chunk[index] == UInt8(ascii: "\n") {
                line.append(contentsOf: chunk[start..<index])
                if let found = match(line) { return found }
                line.removeAll(keepingCapacity: true)
                start = index + 1
            }
            line.append(contentsOf: chunk[start..<count])
            if line.count > 8192 { return nil }   // no ref line is this long
        }
        return match(line)
    }

    /// A regular file of at most 4,096 bytes at `path` below the root; nil when it is missing
    /// or longer.
    private static func readSmallFile(_ tree: OpenRoot, _ path: [UInt8]) throws -> [UInt8]? {
        let limit = 4096
        guard let fd = try openIfPresent(tree, path) else { return nil }
        defer { close(fd) }
        let shown = tree.shown(path)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: limit + 1)
        while out.count <= limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, limit + 1 - out.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError.errno(shown, "cannot read")
            }
            if count == 0 { return out }
            out += chunk[..<count]
        }
        return nil
    }

    /// The regular file at `path` below the root, opened without following symlinks; nil when
    /// it or a directory on the way is missing.
    private static func openIfPresent(_ tree: OpenRoot, _ path: [UInt8]) throws -> Int32? {
        let shown = tree.shown(path)
        let (parent, name) = split(path)
        let directory: Int32
        do { directory = try tree.openDirectory(parent) } catch let error as ReadError where error.code == ENOENT { return nil }
        defer { close(directory) }
        let fd: Int32
        do { fd = try openFile(directory, name, shown: shown) } catch let error as ReadError where error.code == ENOENT { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw ReadError(shown, "is not a regular file")
        }
        return fd
    }

    /// The first line of `text`, without its line ending.
    private static func firstLine(_ text: [UInt8]) -> ArraySlice<UInt8> {
        var line = text.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return line
    }

    /// A SHA-1 commit id as git writes it: 40 lowercase hex digits.
    private static func isCommitId(_ text: ArraySlice<UInt8>) -> Bool {
        text.count == 40 && text.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// A ref under `refs/` whose every component is a plain name, so it stays in the git directory.
    private static func isSafeRefName(_ name: [UInt8]) -> Bool {
        guard name.count <= 1024, name.starts(with: Array("refs/".utf8)) else { return false }
        return name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && component.first != UInt8(ascii: ".") && !component.contains(0)
        }
    }

    /// The 20 bytes of a commit id given as 40 lowercase hex digits.
    static func rawCommit(_ hex: String) -> [UInt8] {
        func value(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x61 + 10 }
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
    }
}

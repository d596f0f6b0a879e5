import CGit2
#if canImport(Glibc)
import Glibc
#endif

/// What the archived commit's `.gitattributes` say about one path, reduced to what `git archive`
/// acts on (git's convert.c and archive.c), with `core.autocrlf=false` and `core.eol` unset.
struct ArchiveAttributes: Sendable, Equatable {
    /// `export-ignore` is set: the path (or the directory and all under it) is not written.
    var exportIgnore = false
    /// `export-subst` is set: `$Format:…$` is expanded.
    var exportSubst = false
    /// `ident` is set: `$Id$` becomes `$Id: <blob id> $`.
    var ident = false
    var lineEndings = LineEndingOutput.unchanged
    /// The `filter` attribute's value, when it names a driver.
    var filter: [UInt8]?
    /// The `working-tree-encoding` attribute's value, when it has one.
    var workingTreeEncoding: [UInt8]?
}

/// What git writes for line endings on the way out of the object store.
///
/// With `core.autocrlf=false` and `core.eol` unset on a system whose native ending is LF, only
/// `eol=crlf` changes bytes: git's `text`, `text=auto`, `eol=lf` and `crlf=input` all write the
/// blob's endings as stored.
enum LineEndingOutput: Sendable, Equatable {
    case unchanged
    /// `eol=crlf` (with `text` set or unspecified): every LF not after a CR becomes CRLF.
    case crlf
    /// `text=auto eol=crlf`: the same, but only for content that looks like text with no CR.
    case crlfIfText
}

/// Attribute lookups that see the archived commit's `.gitattributes` and nothing else.
///
/// libgit2 would also read the work tree, the index, `$GIT_DIR/info/attributes`,
/// `core.attributesFile` and the global and system files. This repository is built from the
/// object database alone (`git_repository_new`): it has no directory, so no work tree, index or
/// info file; its config is empty; and `LibGit2` points the global, XDG and system search paths
/// nowhere. What remains is the commit source, which reads each directory's `.gitattributes`
/// blob from the commit's tree, and the built-in `binary` macro, set here to git's definition.
final class ArchiveAttributeLookup {
    private let repository: OpaquePointer
    private let owner: AnyObject
    private var options = git_attr_options()
    static let names = ["export-ignore", "export-subst", "ident", "text", "crlf", "eol",
                                "filter", "working-tree-encoding"]

    /// Looks attributes up in `commit`, read from `objects`.
    convenience init(_ objects: GitObjectDatabase, commit: git_oid) throws {
        try self.init(objects: objects.pointer, owner: objects, commit: commit)
    }

    /// `owner` keeps the object database alive as long as this lookup.
    init(objects: OpaquePointer, owner: AnyObject, commit: git_oid) throws {
        var repo: OpaquePointer?
        guard git_repository_new(&repo) == 0, let repo else {
            throw GitError("git_repository_new", "preparing attribute lookups")
        }
        repository = repo
        self.owner = owner
        var config: OpaquePointer?
        guard git_config_new(&config) == 0, let config else {
            throw GitError("git_config_new", "preparing attribute lookups")
        }
        defer { git_config_free(config) }   // the repository holds its own reference
        guard git_repository_set_config(repo, config) == 0 else {
            throw GitError("git_repository_set_config", "preparing attribute lookups")
        }
        guard git_repository_set_odb(repo, objects) == 0 else {
            throw GitError("git_repository_set_odb", "preparing attribute lookups")
        }
        // libgit2's built-in `binary` also unsets `crlf`, which git's does not: with it,
        // `binary` then `text=auto eol=crlf` would keep LF endings that git converts.
        guard git_attr_add_macro(repo, "binary", "-diff -merge -text") == 0 else {
            throw GitError("git_attr_add_macro", "preparing attribute lookups")
        }
        options.version = UInt32(GIT_ATTR_OPTIONS_VERSION)
        options.flags = UInt32(GIT_ATTR_CHECK_INDEX_ONLY) | UInt32(GIT_ATTR_CHECK_NO_SYSTEM)
            | UInt32(GIT_ATTR_CHECK_INCLUDE_COMMIT)
        options.attr_commit_id = commit
    }

    deinit { git_repository_free(repository) }

    /// The attributes of a file, symlink or gitlink at `path`.
    /// - Throws: `GitError` when a `.gitattributes` on the way cannot be read.
    func attributes(of path: [UInt8]) throws -> ArchiveAttributes {
        let values = try lookup(path)
        var result = ArchiveAttributes()
        result.exportIgnore = values[0] == .set
        result.exportSubst = values[1] == .set
        result.ident = values[2] == .set
        result.lineEndings = lineEndingOutput(text: values[3], crlf: values[4], eol: values[5])
        if case .value(let name) = values[6] { result.filter = name }
        if case .value(let name) = values[7] { result.workingTreeEncoding = name }
        return result
    }

    /// Whether `path` has `export-ignore` set, looked up as a file: see `DirectoryAttributeView`
    /// for directories.
    func isExportIgnored(_ path: [UInt8]) throws -> Bool {
        try lookup(path)[0] == .set
    }

    private enum Value: Equatable {
        case unspecified, set, unset
        case value([UInt8])
    }

    private func lookup(_ path: [UInt8]) throws -> [Value] {
        var values = [UnsafePointer<CChar>?](repeating: nil, count: Self.names.count)
        let cNames = Self.names.map { strdup($0) }
        defer { cNames.forEach { free($0) } }
        var constNames = cNames.map { UnsafePointer<CChar>($0) }
        let status = (path + [0]).withUnsafeBufferPointer { pathBytes in
            pathBytes.withMemoryRebound(to: CChar.self) { cPath in
                git_attr_get_many_ext(&values, repository, &options, cPath.baseAddress, constNames.count, &constNames)
            }
        }
        guard status == 0 else {
            throw GitError("git_attr_get_many_ext", "attributes of '\(messagePath(path))'")
        }
        return values.map { value in
            switch git_attr_value(value) {
            case GIT_ATTR_VALUE_TRUE: .set
            case GIT_ATTR_VALUE_FALSE: .unset
            case GIT_ATTR_VALUE_STRING: .value(value.map { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) } ?? [])
            default: .unspecified
            }
        }
    }

    /// git's `convert_attrs` and `output_eol` with `core.autocrlf=false` and `core.eol` unset.
    private func lineEndingOutput(text: Value, crlf: Value, eol: Value) -> LineEndingOutput {
        enum Action { case undefined, binary, text, input, auto }
        func action(_ value: Value) -> Action {
            switch value {
            case .set: .text
            case .unset: .binary
            case .value(let v) where v == Array("input".utf8): .input
            case .value(let v) where v == Array("auto".utf8): .auto
            default: .undefined
            }
        }
        var chosen = action(text)   // `text` wins; the old `crlf` counts only when it says nothing
        if chosen == .undefined { chosen = action(crlf) }
        guard chosen != .binary, eol == .value(Array("crlf".utf8)) else { return .unchanged }
        return chosen == .auto ? .crlfIfText : .crlf
    }
}

extension ArchiveAttributes {
    /// Whether a regular file's bytes may differ from the blob, or need a check first.
    var changesBytes: Bool {
        exportSubst || ident || lineEndings != .unchanged || filter != nil || workingTreeEncoding != nil
    }
}

/// The decisions made once per archive before any file is read.
enum ArchivePlan {
    /// For each path (in the reader's path order): whether `git archive` can write it at all.
    /// Gitlinks are dropped (git writes an empty directory), and so is everything under a
    /// directory with `export-ignore`, which git checks on the way down. `hasAttributes` is
    /// false when the tree has no `.gitattributes`: then no file needs a lookup.
    /// - Throws: `GitError` for a `.gitattributes` that is not a regular file, cannot be read,
    ///   or is one git would partly ignore (see `checkAttributesFile`).
    ///   Also refuses an attributes file outside the commit that git would apply (see
    ///   `checkOutsideAttributes`).
    static func keptPaths(_ paths: [(path: [UInt8], kind: EntryKind, oid: [UInt8])], objects: GitObjectDatabase,
                          commit: git_oid, outside: [(path: String, name: String)]) throws -> (kept: [Bool], hasAttributes: Bool) {
        var attributeFiles: [(directory: [UInt8], bytes: [UInt8])] = []
        for entry in paths where entry.path.split(separator: UInt8(ascii: "/")).last?.elementsEqual(attributesFileName) == true {
            guard entry.kind.isRegularFile else {
                throw GitError("export-ignore", "'\(messagePath(entry.path))'",
                               message: "'\(messagePath(entry.path))' is not a regular file; archive mode does not guess how git reads it")
            }
            var oid = git_oid()
            withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: entry.oid) }
            let bytes = try objects.readVerified(oid, GIT_OBJECT_BLOB, what: "blob for '\(messagePath(entry.path))'").bytes
            try checkAttributesFile(bytes, path: entry.path)
            attributeFiles.append((Array(entry.path.dropLast(attributesFileName.count + 1)), bytes))
        }
        try checkMacroOverrides(attributeFiles)
        try checkOutsideAttributes(outside, rootAttributes: attributeFiles.first { $0.directory.isEmpty }?.bytes ?? [])
        let view = attributeFiles.isEmpty ? nil : try DirectoryAttributeView(attributeFiles)
        var ignoredDirectories: [[UInt8]: Bool] = [:]
        var kept = [Bool](repeating: false, count: paths.count)
        for (index, entry) in paths.enumerated() {
            var ignored = false
            if let view {
                for slash in entry.path.indices where entry.path[slash] == UInt8(ascii: "/") {
                    let directory = Array(entry.path[..<slash])
                    if let known = ignoredDirectories[directory] {
                        ignored = known
                    } else {
                        ignored = try view.isExportIgnored(directory)
                        ignoredDirectories[directory] = ignored
                    }
                    if ignored { break }
                }
            }
            kept[index] = !ignored && entry.kind != .submodule
        }
        return (kept, !attributeFiles.isEmpty)
    }

    /// Refuses a `.gitattributes` that git and libgit2 would read differently:
    /// - git (since 2.39.1) ignores a file over 100 MiB and any line of 2048 bytes or more, and
    ///   stops at a NUL; libgit2 does not.
    /// - git ends a pattern at the first blank; libgit2 lets `\ ` escape it.
    /// - git ignores a line whose pattern starts with `!`; libgit2 matches it literally.
    /// - Quoted patterns (`"a b"`) are unquoted by git's C rules; archive mode does not check
    ///   that libgit2 agrees.
    /// - git applies the root file's macros (`[attr]name …`) to every line, wherever they are
    ///   defined, and only from the root file; libgit2 expands a macro where it is used, so a
    ///   macro used (even inside another macro) before its last definition would differ.
    /// - Throws: `GitError` naming the file and the line.
    static func checkAttributesFile(_ bytes: [UInt8], path: [UInt8]) throws {
        func refuse(_ why: String) -> GitError {
            GitError("export-ignore", "'\(messagePath(path))'",
                     message: "\(why); git and libgit2 read it differently, and archive mode does not guess")
        }
        guard bytes.count <= 100 << 20 else { throw refuse("the file is larger than 100 MiB") }
        if let nul = bytes.firstIndex(of: 0) {
            throw refuse("line \(bytes[..<nul].filter { $0 == 0x0A }.count + 1) has a NUL byte")
        }
        let isRoot = path == attributesFileName
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { AttributesLine($0) }
        var lastDefinition: [ArraySlice<UInt8>: Int] = [:]
        for (number, line) in lines.enumerated() {
            if line.length >= 2048 { throw refuse("line \(number + 1) is \(line.length) bytes long, past git's limit of 2047") }
            guard let pattern = line.pattern else { continue }
            if pattern.first == UInt8(ascii: "\"") { throw refuse("line \(number + 1) has a quoted pattern") }
            if pattern.first == UInt8(ascii: "!") { throw refuse("line \(number + 1) has a negative pattern") }
            if pattern.last == UInt8(ascii: "\\") && !line.attributes.isEmpty {
                throw refuse("line \(number + 1) has a pattern ending in a backslash before a blank")
            }
            if let macro = line.macroName {
                if !isRoot { throw refuse("line \(number + 1) defines a macro outside the top-level .gitattributes") }
                lastDefinition[macro] = number
            }
        }
        for (number, line) in lines.enumerated() {
            for name in line.attributes.map(attributeName) where (lastDefinition[name] ?? -1) > number {
                throw refuse("line \(number + 1) uses the macro '\(Escaping.escape(Array(name)))' before its definition "
                             + "on line \(lastDefinition[name]! + 1)")
            }
        }
    }

    /// git expands a macro only where the macro itself is decided set (it reads the rules from
    /// the most specific up, and a macro unset or unspecified there expands to nothing), while
    /// libgit2 expands it in every rule that sets it. So `*.c binary` followed by `*.c -binary`
    /// leaves `text` unspecified in git but unset in libgit2. A file that sets a macro to
    /// anything but true (`-binary`, `!binary`, `binary=x`) is refused.
    /// - Throws: `GitError` naming the file, the line and the macro.
    static func checkMacroOverrides(_ files: [(directory: [UInt8], bytes: [UInt8])]) throws {
        var macros: Set<ArraySlice<UInt8>> = [Array("binary".utf8)[...]]
        for file in files where file.directory.isEmpty {
            for line in file.bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(AttributesLine.init) {
                if let name = line.macroName { macros.insert(name) }
            }
        }
        for file in files {
            for (number, line) in file.bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(AttributesLine.init).enumerated() {
                for token in line.attributes where macros.contains(attributeName(token)) && attributeName(token) != token {
                    let path = file.directory.isEmpty ? attributesFileName : file.directory + [UInt8(ascii: "/")] + attributesFileName
                    throw GitError("export-ignore", "'\(messagePath(path))'",
                                   message: "line \(number + 1) sets the macro '\(Escaping.escape(Array(attributeName(token))))' to "
                                   + "'\(Escaping.escape(Array(token)))'; git and libgit2 expand it differently then, and archive mode does not guess")
                }
            }
        }
    }

    /// Refuses an attributes file from outside the commit (`$GIT_DIR/info/attributes`,
    /// `core.attributesFile`, the system file) with a line that could change what `git archive`
    /// writes: one naming an attribute archive mode acts on (`ArchiveAttributeLookup`'s list),
    /// `binary` or a macro the commit's top-level `.gitattributes` defines, or one defining a
    /// macro. Lines about anything else (`diff=`, `merge=`, `linguist-…`) are left alone: git
    /// archive does not read those attributes.
    /// - Throws: `GitError` naming the file, the line and the attribute.
    static func checkOutsideAttributes(_ files: [(path: String, name: String)], rootAttributes: [UInt8]) throws {
        var watched = Set(ArchiveAttributeLookup.names.map { Array($0.utf8)[...] })
        watched.insert(Array("binary".utf8)[...])
        for line in rootAttributes.split(separator: 0x0A, omittingEmptySubsequences: false).map(AttributesLine.init) {
            if let macro = line.macroName { watched.insert(macro) }
        }
        for file in files {
            guard let bytes = try ArchiveSettingsCheck.readAttributesFile(file.path, name: file.name) else { continue }
            for (number, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(AttributesLine.init).enumerated() {
                guard line.pattern != nil else { continue }
                let why: String
                if let macro = line.macroName {
                    why = "defines the macro '\(Escaping.escape(Array(macro)))'"
                } else if let token = line.attributes.first(where: { watched.contains(attributeName($0)) }) {
                    why = "sets '\(Escaping.escape(Array(token)))'"
                } else {
                    continue
                }
                throw GitError(settingsFunction, file.path,
                               message: "line \(number + 1) of \(file.name) \(why), which git archive applies on top of the commit's "
                               + ".gitattributes; archive mode refuses rather than verify another tree")
            }
        }
    }

    /// Refuses what archive mode cannot write as `git archive` would.
    /// - Throws: `GitError` naming the file and the attribute.
    static func checkReproducible(_ attributes: ArchiveAttributes, path: [UInt8], settings: GitSettings) throws {
        if let filter = attributes.filter, settings.hasFilterDriver(filter) {
            throw GitError("filter", "'\(messagePath(path))'",
                           message: "'\(messagePath(path))' has the attribute filter=\(Escaping.escape(filter)), whose driver is "
                           + "configured in git's config here; git archive would run it, archive mode cannot")
        }
        if let encoding = attributes.workingTreeEncoding {
            throw GitError("working-tree-encoding", "'\(messagePath(path))'",
                           message: "'\(messagePath(path))' has the attribute working-tree-encoding=\(Escaping.escape(encoding)); "
                           + "git archive would re-encode it, archive mode cannot")
        }
    }
}

private let attributesFileName = Array(".gitattributes".utf8)

/// One line of a `.gitattributes`, split as git's `parse_attr_line` splits it: blanks are
/// space, tab, CR and LF; a line that is blank or starts with `#` has no pattern.
private struct AttributesLine {
    var length: Int
    var pattern: ArraySlice<UInt8>?
    /// The attribute tokens after the pattern (after the macro's name for a macro).
    var attributes: [ArraySlice<UInt8>] = []
    var macroName: ArraySlice<UInt8>?

    init(_ line: ArraySlice<UInt8>) {
        length = line.count
        let blanks: [UInt8] = [0x20, 0x09, 0x0D, 0x0A]
        var tokens = line.split(whereSeparator: { blanks.contains($0) })[...]
        guard let first = tokens.popFirst(), first.first != UInt8(ascii: "#") else { return }
        pattern = first
        let prefix = Array("[attr]".utf8)
        if first.count > prefix.count && first.starts(with: prefix) {
            macroName = first.dropFirst(prefix.count)
        }
        attributes = Array(tokens)
    }
}

/// An attribute token's name: `-name`, `!name`, `name=value` and `name` all name `name`.
private func attributeName(_ token: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var name = token
    if name.first == UInt8(ascii: "-") || name.first == UInt8(ascii: "!") { name = name.dropFirst() }
    if let equals = name.firstIndex(of: UInt8(ascii: "=")) { name = name[..<equals] }
    return name
}

/// `export-ignore` of directories, as git checks it.
///
/// git asks about a directory as `dir/`, so a directory-only pattern (`tests/`) matches it.
/// libgit2 treats every path of a repository without a work tree as a file, where such a
/// pattern never matches. So directories are looked up in a stand-in commit, built in memory,
/// that holds only the `.gitattributes` files, each at its own place, with the trailing `/` of
/// every pattern removed: `tests` then matches the directory exactly as `tests/` does in git
/// (same anchoring, same basename or full-path rule), and line order, file order and macros
/// are unchanged. The stand-in is used for directories only, never for files.
final class DirectoryAttributeView {
    private let store: InMemoryObjects
    private let lookup: ArchiveAttributeLookup

    /// - Parameter files: each `.gitattributes` with the directory holding it (`[]` for the root).
    /// Precondition: every file passed `ArchivePlan.checkAttributesFile` (no quoted patterns).
    init(_ files: [(directory: [UInt8], bytes: [UInt8])]) throws {
        let store = try InMemoryObjects()
        var children: [[UInt8]: [(name: [UInt8], isTree: Bool, oid: git_oid)]] = [[]: []]
        for file in files {
            let blob = try store.write(Self.withoutDirectorySlashes(file.bytes), GIT_OBJECT_BLOB)
            children[file.directory, default: []].append((attributesFileName, false, blob))
            var directory = file.directory
            while !directory.isEmpty {
                directory = directory.lastIndex(of: UInt8(ascii: "/")).map { Array(directory[..<$0]) } ?? []
                if children[directory] == nil { children[directory] = [] }
            }
        }
        // Deepest first, so every subtree is written before the tree that holds it.
        for directory in children.keys.sorted(by: { depth($0) > depth($1) }) where !directory.isEmpty {
            let tree = try store.writeTree(children[directory] ?? [])
            let slash = directory.lastIndex(of: UInt8(ascii: "/"))
            let parent = slash.map { Array(directory[..<$0]) } ?? []
            let name = slash.map { Array(directory[($0 + 1)...]) } ?? directory
            children[parent, default: []].append((name, true, tree))
        }
        let root = try store.writeTree(children[[]] ?? [])
        let commit = try store.write(Array("tree \(hexString(root))\nauthor - <> 0 +0000\ncommitter - <> 0 +0000\n\n-\n".utf8),
                                     GIT_OBJECT_COMMIT)
        self.store = store
        lookup = try ArchiveAttributeLookup(objects: store.pointer, owner: store, commit: commit)
    }

    /// Whether the directory at `path` (no trailing slash) has `export-ignore` set.
    func isExportIgnored(_ path: [UInt8]) throws -> Bool {
        try lookup.isExportIgnored(path)
    }

    /// The file with one trailing `/` removed from each pattern (git's `parse_attr_line`:
    /// blanks are space, tab, CR and LF; `#` starts a comment; `[attr]` defines a macro).
    static func withoutDirectorySlashes(_ bytes: [UInt8]) -> [UInt8] {
        let blanks: [UInt8] = [0x20, 0x09, 0x0D, 0x0A]
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for (number, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if number > 0 { out.append(0x0A) }
            guard let start = line.firstIndex(where: { !blanks.contains($0) }), line[start] != UInt8(ascii: "#"),
                  !line[start...].starts(with: Array("[attr]".utf8)) else {
                out += line
                continue
            }
            let end = line[start...].firstIndex(where: { blanks.contains($0) }) ?? line.endIndex
            if end - start > 1 && line[end - 1] == UInt8(ascii: "/") {
                out += line[..<(end - 1)]
                out += line[end...]
            } else {
                out += line
            }
        }
        return out
    }
}

private func depth(_ path: [UInt8]) -> Int { path.isEmpty ? 0 : path.filter { $0 == UInt8(ascii: "/") }.count + 1 }

/// An object database in memory only (libgit2's mempack), for the stand-in commit.
final class InMemoryObjects {
    let pointer: OpaquePointer

    init() throws {
        var odb: OpaquePointer?
        guard git_odb_new(&odb) == 0, let odb else { throw GitError("git_odb_new", "preparing attribute lookups") }
        pointer = odb
        var backend: UnsafeMutablePointer<git_odb_backend>?
        guard git_mempack_new(&backend) == 0, let backend else {
            throw GitError("git_mempack_new", "preparing attribute lookups")
        }
        // Once added, the backend belongs to the object database.
        guard git_odb_add_backend(odb, backend, 1) == 0 else {
            backend.pointee.free?(backend)
            throw GitError("git_odb_add_backend", "preparing attribute lookups")
        }
    }

    deinit { git_odb_free(pointer) }

    func write(_ bytes: [UInt8], _ type: git_object_t) throws -> git_oid {
        var oid = git_oid()
        guard bytes.withUnsafeBytes({ git_odb_write(&oid, pointer, $0.baseAddress, $0.count, type) }) == 0 else {
            throw GitError("git_odb_write", "preparing attribute lookups")
        }
        return oid
    }

    /// Writes a tree in git's entry order: names compared bytewise, a directory's as if it
    /// ended in `/`.
    func writeTree(_ entries: [(name: [UInt8], isTree: Bool, oid: git_oid)]) throws -> git_oid {
        func key(_ entry: (name: [UInt8], isTree: Bool, oid: git_oid)) -> [UInt8] {
            entry.isTree ? entry.name + [UInt8(ascii: "/")] : entry.name
        }
        var bytes: [UInt8] = []
        for entry in entries.sorted(by: { key($0).lexicographicallyPrecedes(key($1)) }) {
            bytes += Array((entry.isTree ? "40000 " : "100644 ").utf8) + entry.name + [0]
            bytes += withUnsafeBytes(of: entry.oid.id) { Array($0) }
        }
        return try write(bytes, GIT_OBJECT_TREE)
    }
}

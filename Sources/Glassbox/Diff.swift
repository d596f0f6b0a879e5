import GlassboxGit
import GlassboxScan

/// How one path changed between two releases.
public struct Change: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case added, removed, modified, renamed
        case kindChanged = "kind-changed"
        case modeChanged = "mode-changed"
        case retargeted
        case submoduleMoved = "submodule-moved"

        /// The change for an in-place difference between two trees.
        init(_ kind: Difference.Kind) {
            switch kind {
            case .modified: self = .modified
            case .kindChanged: self = .kindChanged
            case .modeChanged: self = .modeChanged
            case .retargeted: self = .retargeted
            case .submoduleMoved: self = .submoduleMoved
            case .missing: self = .removed
            case .extra: self = .added
            }
        }
    }

    public var kind: Kind
    /// The path in the new release (for `removed`, the path it had).
    public var path: [UInt8]
    /// For `renamed`: the path in the old release.
    public var oldPath: [UInt8]?
    public var old: TreeEntry?
    public var new: TreeEntry?
}

/// Every change from `old` to `new`, both sorted by raw path bytes with unique paths, in path
/// order. The same content (kind, size, digest) removed at one path and added at another is a
/// rename; when several paths share that content, removed and added paths are paired in path
/// order, so the result is one-to-one and deterministic. O(n) in entries plus O(k log k) in
/// the k added and removed paths.
public func diffReleases(old: [TreeEntry], new: [TreeEntry]) -> [Change] {
    var changes: [Change] = []
    var removed: [TreeEntry] = []
    var added: [TreeEntry] = []
    for d in compare(expected: old, actual: new) {
        switch d {
        case let .missing(listed): removed.append(listed)
        case let .extra(found): added.append(found)
        case let .changed(kind, listed, found):
            changes.append(Change(kind: Change.Kind(kind), path: listed.path, old: listed, new: found))
        }
    }
    // Rename candidates: the same content on both sides. Submodules are pins, not content.
    struct Content: Hashable { var kind: EntryKind; var size: UInt64; var digest: [UInt8] }
    var addedByContent: [Content: [TreeEntry]] = [:]
    for entry in added where entry.kind != .submodule {
        addedByContent[Content(kind: entry.kind, size: entry.size, digest: entry.digest), default: []].append(entry)
    }
    var renamedTo = Set<[UInt8]>()
    for entry in removed {
        let key = Content(kind: entry.kind, size: entry.size, digest: entry.digest)
        if entry.kind != .submodule, var candidates = addedByContent[key], !candidates.isEmpty {
            // Both lists are in path order; pairing the first of each keeps it deterministic.
            let target = candidates.removeFirst()
            addedByContent[key] = candidates
            renamedTo.insert(target.path)
            changes.append(Change(kind: .renamed, path: target.path, oldPath: entry.path, old: entry, new: target))
        } else {
            changes.append(Change(kind: .removed, path: entry.path, old: entry, new: nil))
        }
    }
    for entry in added where !renamedTo.contains(entry.path) {
        changes.append(Change(kind: .added, path: entry.path, old: nil, new: entry))
    }
    return changes.sorted {
        $0.path == $1.path ? $0.kind.rawValue < $1.kind.rawValue : $0.path.lexicographicallyPrecedes($1.path)
    }
}

/// Counts by kind of change and by top-level directory, for a summary.
public struct DiffSummary: Sendable, Equatable {
    public var byKind: [Change.Kind: Int] = [:]
    /// Changes per top-level directory (`.` for files at the top), sorted by name.
    public var byDirectory: [(directory: String, count: Int)] = []

    public init(_ changes: [Change]) {
        var directories: [String: Int] = [:]
        for change in changes {
            byKind[change.kind, default: 0] += 1
            let top = change.path.firstIndex(of: UInt8(ascii: "/")).map { Escaping.escape(Array(change.path[..<$0])) } ?? "."
            directories[top, default: 0] += 1
        }
        byDirectory = directories.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public static func == (a: DiffSummary, b: DiffSummary) -> Bool {
        a.byKind == b.byKind && a.byDirectory.elementsEqual(b.byDirectory) { $0 == $1 }
    }
}

/// The content findings that the new version of one changed file brings: the scan of `new`
/// less the scan of `old` (nil for a file that is new). Lines move when code is added above,
/// so findings are matched by rule, code points and message, not by line; when the new
/// version has more findings of one kind than the old, the later ones count as new.
/// `path` is the new path; both versions are scanned under it, so the rules that look at
/// the file name (which language, which comments) read both the same way.
public func introducedFindings(path: [UInt8], old: [UInt8]?, new: [UInt8], options: ScanOptions) -> [ScanFinding] {
    let found = scanContent(path: path, kind: .file, size: UInt64(new.count), content: new, options: options)
        .sorted { ($0.line ?? 0, $0.column ?? 0) < ($1.line ?? 0, $1.column ?? 0) }
    guard let old, !found.isEmpty else { return found }
    struct Key: Hashable { var rule: String; var codePoints: [String]; var message: String }
    var before: [Key: Int] = [:]
    for finding in scanContent(path: path, kind: .file, size: UInt64(old.count), content: old, options: options) {
        before[Key(rule: finding.rule, codePoints: finding.codePoints, message: finding.message), default: 0] += 1
    }
    return found.filter { finding in
        let key = Key(rule: finding.rule, codePoints: finding.codePoints, message: finding.message)
        guard let count = before[key], count > 0 else { return true }
        before[key] = count - 1
        return false
    }
}

import GlassboxGit

/// One way a tree differs from what a manifest lists.
public struct Difference: Sendable, Equatable {
    /// What changed, in the words a report uses.
    public enum Kind: String, Sendable, CaseIterable {
        /// Same kind, different content.
        case modified
        /// Listed but absent.
        case missing
        /// Present but not listed.
        case extra
        /// A different kind of entry (file ↔ symlink ↔ submodule).
        case kindChanged = "kind-changed"
        /// The executable bit was set or cleared.
        case modeChanged = "mode-changed"
        /// A symlink points elsewhere.
        case retargeted
        /// A submodule pins another commit.
        case submoduleMoved = "submodule-moved"
    }

    public var kind: Kind
    public var path: [UInt8]
    /// What the manifest lists, when it lists the path.
    public var expected: TreeEntry?
    /// What the tree holds, when it holds the path.
    public var actual: TreeEntry?
}

/// Compares a tree with the entries a manifest lists and returns every difference, in path
/// order. Both inputs must be sorted by raw path bytes with unique paths. A file whose
/// executable bit and content both changed gives two differences.
public func compare(expected: [TreeEntry], actual: [TreeEntry]) -> [Difference] {
    var out: [Difference] = []
    var i = 0
    var j = 0
    while i < expected.count || j < actual.count {
        if j == actual.count || (i < expected.count && expected[i].path.lexicographicallyPrecedes(actual[j].path)) {
            out.append(Difference(kind: .missing, path: expected[i].path, expected: expected[i], actual: nil))
            i += 1
            continue
        }
        if i == expected.count || actual[j].path.lexicographicallyPrecedes(expected[i].path) {
            out.append(Difference(kind: .extra, path: actual[j].path, expected: nil, actual: actual[j]))
            j += 1
            continue
        }
        let e = expected[i]
        let a = actual[j]
        i += 1
        j += 1
        let sameContent = e.size == a.size && e.digest == a.digest
        let regular: Set<EntryKind> = [.file, .exec]
        if e.kind != a.kind {
            if regular.contains(e.kind) && regular.contains(a.kind) {
                out.append(Difference(kind: .modeChanged, path: e.path, expected: e, actual: a))
                if !sameContent { out.append(Difference(kind: .modified, path: e.path, expected: e, actual: a)) }
            } else {
                out.append(Difference(kind: .kindChanged, path: e.path, expected: e, actual: a))
            }
            continue
        }
        if sameContent { continue }
        let kind: Difference.Kind = switch e.kind {
        case .file, .exec: .modified
        case .link: .retargeted
        case .submodule: .submoduleMoved
        }
        out.append(Difference(kind: kind, path: e.path, expected: e, actual: a))
    }
    return out
}

/// Totals over a list of entries, for `inspect` and reports.
public struct EntryStatistics: Sendable, Equatable {
    public var countByKind: [EntryKind: Int] = [:]
    /// The bytes of file, executable and symlink content.
    public var totalBytes: UInt64 = 0

    public init(_ entries: [TreeEntry]) {
        for kind in EntryKind.allCases { countByKind[kind] = 0 }
        for entry in entries {
            countByKind[entry.kind, default: 0] += 1
            totalBytes += entry.size
        }
    }
}

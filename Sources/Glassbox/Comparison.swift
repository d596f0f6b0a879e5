import GlassboxGit

/// One way a tree differs from what a manifest lists. Each case carries exactly the entries it
/// is about, so nothing that reads a difference has to assume which side is there.
public enum Difference: Sendable, Equatable {
    /// Listed but absent.
    case missing(listed: TreeEntry)
    /// Present but not listed.
    case extra(found: TreeEntry)
    /// Listed and present, but not the same: how is `kind`.
    case changed(Kind, listed: TreeEntry, found: TreeEntry)

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

    public var kind: Kind {
        switch self {
        case .missing: .missing
        case .extra: .extra
        case let .changed(kind, _, _): kind
        }
    }

    /// The raw path the difference is about.
    public var path: [UInt8] {
        switch self {
        case let .missing(listed): listed.path
        case let .extra(found): found.path
        case let .changed(_, listed, _): listed.path
        }
    }

    /// What the manifest lists, when it lists the path.
    public var listed: TreeEntry? {
        switch self {
        case let .missing(listed), let .changed(_, listed, _): listed
        case .extra: nil
        }
    }

    /// What the tree holds, when it holds the path.
    public var found: TreeEntry? {
        switch self {
        case let .extra(found), let .changed(_, _, found): found
        case .missing: nil
        }
    }
}

/// Compares a tree with the entries a manifest lists and returns every difference, in path
/// order. Both inputs must be sorted by raw path bytes with unique paths. A file whose
/// executable bit and content both changed gives two differences.
public func compare(expected: [TreeEntry], actual: [TreeEntry]) -> [Difference] {
    var comparer = TreeComparer(actual: actual)
    for entry in expected { comparer.expect(entry) }
    return comparer.finish()
}

/// The same comparison with the expected entries fed one at a time, in path order, as a
/// manifest is read: the manifest's entries need not be held.
public struct TreeComparer {
    private let actual: [TreeEntry]
    private var next = 0
    public private(set) var differences: [Difference] = []

    /// `actual` must be sorted by raw path bytes with unique paths.
    public init(actual: [TreeEntry]) { self.actual = actual }

    /// The next expected entry. Precondition: after every earlier one in path order.
    public mutating func expect(_ e: TreeEntry) {
        while next < actual.count && actual[next].path.lexicographicallyPrecedes(e.path) {
            differences.append(.extra(found: actual[next]))
            next += 1
        }
        guard next < actual.count, actual[next].path == e.path else {
            differences.append(.missing(listed: e))
            return
        }
        let a = actual[next]
        next += 1
        let sameContent = e.hasSameContent(as: a)
        if e.kind != a.kind {
            if e.kind.isRegularFile && a.kind.isRegularFile {
                differences.append(.changed(.modeChanged, listed: e, found: a))
                if !sameContent { differences.append(.changed(.modified, listed: e, found: a)) }
            } else {
                differences.append(.changed(.kindChanged, listed: e, found: a))
            }
            return
        }
        if sameContent { return }
        let kind: Difference.Kind = switch e.kind {
        case .file, .exec: .modified
        case .link: .retargeted
        case .submodule: .submoduleMoved
        }
        differences.append(.changed(kind, listed: e, found: a))
    }

    /// Every difference, once all expected entries were given: the rest of the tree is extra.
    public mutating func finish() -> [Difference] {
        while next < actual.count {
            differences.append(.extra(found: actual[next]))
            next += 1
        }
        return differences
    }
}

/// Totals over a list of entries, for `inspect` and reports.
public struct EntryStatistics: Sendable, Equatable {
    public var countByKind: [EntryKind: Int] = [:]
    /// The bytes of file, executable and symlink content.
    public var totalBytes: UInt64 = 0

    public init() {
        for kind in EntryKind.allCases { countByKind[kind] = 0 }
    }

    /// Counts one more entry.
    public mutating func add(_ entry: TreeEntry) {
        countByKind[entry.kind, default: 0] += 1
        totalBytes += entry.size
    }
}

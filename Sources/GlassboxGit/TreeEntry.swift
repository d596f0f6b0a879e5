/// What a path in a release tree is, as git distinguishes it.
public enum EntryKind: String, Sendable, CaseIterable, Comparable {
    /// A regular file (git mode 100644).
    case file
    /// A regular file with the executable bit (git mode 100755).
    case exec
    /// A symbolic link (git mode 120000); its content is the target's bytes.
    case link
    /// A submodule pin (git mode 160000); no content, only the pinned commit id.
    case submodule

    public static func < (a: EntryKind, b: EntryKind) -> Bool { a.rawValue < b.rawValue }
}

/// One path of a release tree, as read from git or a directory.
///
/// `digest` is the SHA-256 of the content (file bytes or symlink target bytes), or for a
/// submodule the pinned commit id's raw bytes; `size` is the content length (0 for a submodule).
public struct TreeEntry: Sendable, Hashable {
    /// The raw path bytes, relative, `/`-separated.
    public var path: [UInt8]
    public var kind: EntryKind
    public var size: UInt64
    // Held inline: a million entries would otherwise cost a million small heap arrays.
    private var stored: InlineDigest

    /// The digest bytes (32 for SHA-256, 20 for a SHA-1 commit id).
    public var digest: [UInt8] {
        get { stored.bytes }
        set { stored = InlineDigest(newValue) }
    }

    public init(path: [UInt8], kind: EntryKind, size: UInt64, digest: [UInt8]) {
        self.path = path
        self.kind = kind
        self.size = size
        self.stored = InlineDigest(digest)
    }

    /// Whether `other` has the same size and digest, compared in place.
    public func hasSameContent(as other: TreeEntry) -> Bool {
        size == other.size && stored == other.stored
    }
}

extension EntryKind {
    /// A regular file, executable or not.
    public var isRegularFile: Bool { self == .file || self == .exec }
}

/// Up to 32 bytes stored in place. Precondition: at most 32 bytes.
struct InlineDigest: Sendable, Hashable {
    private var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, d: UInt64 = 0
    private var count: UInt8

    init(_ bytes: [UInt8]) {
        precondition(bytes.count <= 32, "a digest is at most 32 bytes")
        count = UInt8(bytes.count)
        var words: [UInt64] = [0, 0, 0, 0]
        words.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
        (a, b, c, d) = (words[0], words[1], words[2], words[3])
    }

    var bytes: [UInt8] {
        let words = [a, b, c, d]
        return words.withUnsafeBytes { Array($0.prefix(Int(count))) }
    }
}

/// Reports how many of `total` items are done; called from worker threads.
public typealias ProgressHandler = @Sendable (_ done: Int, _ total: Int) -> Void

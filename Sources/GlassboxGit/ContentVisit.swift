/// One path of a tree as a reader reaches it, before its content: what a scanner is shown.
public struct ContentVisit: Sendable {
    public var path: [UInt8]
    public var kind: EntryKind
    /// The full size of the content (a file's bytes, a symlink's target); 0 for a submodule.
    public var size: UInt64
    /// A symlink's target bytes (at most a few KiB); empty for every other kind.
    public var linkTarget: [UInt8] = []
    /// For a submodule: whether its pinned commit is in the repository.
    public var isPresent: Bool = true

    public init(path: [UInt8], kind: EntryKind, size: UInt64, linkTarget: [UInt8] = [], isPresent: Bool = true) {
        self.path = path
        self.kind = kind
        self.size = size
        self.linkTarget = linkTarget
        self.isPresent = isPresent
    }
}

/// Receives one file's bytes in order, in chunks, on the worker thread that reads the file, so
/// a scanner never needs the whole file in memory.
public protocol ContentSink: AnyObject {
    /// The next bytes of the file; valid only during the call. Returns false when the sink
    /// wants no more (the reader still hashes the rest, but stops showing it).
    func consume(_ chunk: UnsafeRawBufferPointer) -> Bool
    /// Called once, after the last chunk (or after `consume` returned false).
    func finish()
}

/// Called from worker threads for every path a reader reaches; returns where that file's
/// content should go, or nil when it is not wanted. For a symlink or a submodule the sink, if
/// any, is finished at once: the visit itself carries all there is.
public typealias ContentInspector = @Sendable (ContentVisit) -> (any ContentSink)?

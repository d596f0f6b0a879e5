import GlassboxCrypto
import GlassboxGit

/// Where a release's tree was read from.
public enum ReleaseSource: Sendable, Equatable {
    /// A git revision: commit and tree ids (hex), and the tag when the revision named one.
    case git(commit: String, tree: String, tagName: [UInt8]?, tagObject: String?)
    /// A directory on disk.
    case directory
}

/// A shipped binary or package listed in the signed part of a manifest.
public struct Artifact: Sendable, Equatable, Hashable {
    /// The artifact's file name, or its path relative to the artifact directory given.
    public var name: [UInt8]
    public var size: UInt64
    public var sha256: [UInt8]

    public init(name: [UInt8], size: UInt64, sha256: [UInt8]) {
        self.name = name
        self.size = size
        self.sha256 = sha256
    }
}

/// Who the release is: everything in the note text besides count and root.
public struct ReleaseHeader: Sendable, Equatable {
    /// The checkpoint origin line, which identifies the release, e.g. `example.com/curl/8.21.0`.
    public var origin: String
    public var name: String
    public var version: String
    public var source: ReleaseSource
    /// Sorted by name, unique.
    public var artifacts: [Artifact]
    /// With a git source: the entries are the bytes `git archive` writes for the commit
    /// (`.gitattributes` applied), not the stored blobs (`source git-archive`).
    public var gitArchive: Bool
    /// The path, in the tree, of the build recipe that rebuilds the artifacts (`recipe PATH`).
    public var recipe: [UInt8]?

    public init(origin: String, name: String, version: String, source: ReleaseSource, artifacts: [Artifact] = [],
                gitArchive: Bool = false, recipe: [UInt8]? = nil) {
        self.origin = origin
        self.name = name
        self.version = version
        self.source = source
        if case .git = source { self.gitArchive = gitArchive } else { self.gitArchive = false }
        self.artifacts = artifacts.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        self.recipe = recipe
    }
}

/// Bad manifest input: which line (1-based, when known) and what is wrong.
public struct FormatError: Error, Equatable, CustomStringConvertible, Sendable {
    public let line: Int?
    public let message: String

    public init(line: Int?, _ message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

/// A release manifest: a C2SP tlog-checkpoint note text, its signature lines, and one entry
/// line per path. See `Manifests/FORMAT.md`.
public struct Manifest: Sendable {
    /// The first extension line, naming this format and its version.
    public static let formatLine = "glassbox-manifest v1"
    /// The longest line a manifest may have, in bytes.
    public static let maxLineLength = 65_536
    /// The longest note text a manifest may have, in bytes (room for many thousand artifacts).
    public static let maxNoteText = 16 << 20
    /// The most signature lines a manifest may carry (as in golang.org/x/mod/sumdb/note).
    public static let maxSignatures = 100

    public let header: ReleaseHeader
    /// The entry count the note text states.
    public let count: UInt64
    /// The root the note text states.
    public let root: [UInt8]
    /// The exact note text bytes, through the LF ending its last line; signatures cover these.
    public let noteText: [UInt8]
    /// The signature lines as read, without LF, in file order.
    public let signatureLines: [[UInt8]]
    /// The entries, sorted by raw path bytes (empty when they were streamed to a callback).
    public let entries: [TreeEntry]
    /// The number of entry lines.
    public let entryCount: UInt64
    /// The root recomputed from the entry lines.
    let computedRoot: [UInt8]

    /// Builds the manifest of `entries`.
    /// - Throws: `FormatError` if the entries are not sorted and unique, a path is not a valid
    ///   release path, or the header cannot be written (an origin with spaces or `+`).
    public init(header: ReleaseHeader, entries: [TreeEntry]) throws {
        try Manifest.validate(origin: header.origin, line: nil)
        var builder = Merkle.RootBuilder()
        var previous: [UInt8]?
        var line: [UInt8] = []
        for entry in entries {
            if let reason = pathProblem(entry.path) {
                throw FormatError(line: nil, "path '\(Escaping.escape(entry.path))': \(reason)")
            }
            if let previous, !previous.lexicographicallyPrecedes(entry.path) {
                throw FormatError(line: nil, "path '\(Escaping.escape(entry.path))' is duplicated or out of order")
            }
            previous = entry.path
            line.removeAll(keepingCapacity: true)
            Manifest.appendEntryLine(entry, to: &line)
            builder.append(leafHash: Merkle.leafHash(line))
        }
        self.header = header
        self.count = UInt64(entries.count)
        self.entryCount = count
        self.root = builder.root
        self.computedRoot = self.root
        self.entries = entries
        self.signatureLines = []
        self.noteText = Manifest.noteText(header: header, count: count, root: root)
    }

    /// A parsed manifest, exactly as read.
    init(header: ReleaseHeader, count: UInt64, root: [UInt8], noteText: [UInt8], signatureLines: [[UInt8]],
         entries: [TreeEntry], entryCount: UInt64, computedRoot: [UInt8]) {
        self.header = header
        self.count = count
        self.root = root
        self.noteText = noteText
        self.signatureLines = signatureLines
        self.entries = entries
        self.entryCount = entryCount
        self.computedRoot = computedRoot
    }

    /// This manifest with one more signature line (over the same note text).
    public func adding(signatureLine: [UInt8]) -> Manifest {
        Manifest(header: header, count: count, root: root, noteText: noteText, signatureLines: signatureLines + [signatureLine],
                 entries: entries, entryCount: entryCount, computedRoot: computedRoot)
    }

    /// The exact bytes of the note text for this header, count and root.
    public static func noteText(header: ReleaseHeader, count: UInt64, root: [UInt8]) -> [UInt8] {
        var lines = [header.origin, String(count), base64(root), formatLine,
                     "name " + Escaping.escape(Array(header.name.utf8)),
                     "version " + Escaping.escape(Array(header.version.utf8))]
        switch header.source {
        case .directory:
            lines.append("source directory")
        case let .git(commit, tree, tagName, tagObject):
            lines += [header.gitArchive ? "source git-archive" : "source git", "commit " + commit, "tree " + tree]
            if let tagName { lines.append("tag " + Escaping.escape(tagName)) }
            if let tagObject { lines.append("tag-object " + tagObject) }
        }
        if let recipe = header.recipe { lines.append("recipe " + Escaping.escape(recipe)) }
        for a in header.artifacts {
            lines.append("artifact \(a.size) \(hex(a.sha256)) \(Escaping.escape(a.name))")
        }
        return Array(lines.map { $0 + "\n" }.joined().utf8)
    }

    /// The entry line of `entry`, without LF: this is the Merkle leaf.
    public static func entryLine(_ entry: TreeEntry) -> [UInt8] {
        var line: [UInt8] = []
        appendEntryLine(entry, to: &line)
        return line
    }

    /// Appends `entry`'s line, without LF, to `out`: `KIND SIZE DIGEST PATH`.
    static func appendEntryLine(_ entry: TreeEntry, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 90 + entry.path.count)
        out += entry.kind.rawValue.utf8
        out.append(0x20)
        if entry.kind == .submodule { out.append(UInt8(ascii: "-")) } else { out += String(entry.size).utf8 }
        out.append(0x20)
        appendHex(entry.digest, to: &out)
        out.append(0x20)
        Escaping.append(entry.path, to: &out)
    }

    /// The whole manifest file.
    public func render() -> [UInt8] {
        var out: [UInt8] = []
        render { out += $0 }
        return out
    }

    /// The manifest file in chunks of about `chunkSize` bytes, so a caller can stream it to disk
    /// without holding it whole.
    public func render(chunkSize: Int = 1 << 20, _ sink: ([UInt8]) throws -> Void) rethrows {
        var out = noteText
        out.append(0x0A)
        for line in signatureLines { out += line; out.append(0x0A) }
        out.reserveCapacity(chunkSize + 4096)
        for entry in entries {
            Manifest.appendEntryLine(entry, to: &out)
            out.append(0x0A)
            if out.count >= chunkSize {
                try sink(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { try sink(out) }
    }

    /// Whether the stated count and root match the entry lines.
    public var isConsistent: Bool {
        count == entryCount && constantTimeEquals(root, computedRoot)
    }

    /// Throws unless the stated count and root match the entry lines.
    public func checkConsistency() throws {
        if count != entryCount {
            throw FormatError(line: 2, "the count says \(counting(count, "entry", "entries")) but there are \(entryCount)")
        }
        if !constantTimeEquals(root, computedRoot) {
            throw FormatError(line: 3, "the root \(base64(root)) does not match the entries, which hash to \(base64(computedRoot))")
        }
    }

    /// An origin made from a release name and version that is always valid: spaces, `+` and
    /// control characters become `-`, an empty part becomes `release` or `unversioned`.
    public static func defaultOrigin(name: String, version: String) -> String {
        func clean(_ part: String, _ fallback: String) -> String {
            let scalars = part.unicodeScalars.map { $0 == " " || $0 == "+" || isControl($0) || $0.properties.isWhitespace ? "-" : $0 }
            let text = String(String.UnicodeScalarView(scalars))
            return text.isEmpty ? fallback : text
        }
        return clean(name, "release") + "/" + clean(version, "unversioned")
    }

    static func validate(origin: String, line: Int?) throws {
        if origin.isEmpty { throw FormatError(line: line, "the origin is empty") }
        // Bytes, not characters: a space or '+' followed by a combining mark is still there.
        if origin.utf8.contains(0x20) || origin.utf8.contains(UInt8(ascii: "+")) {
            throw FormatError(line: line, "the origin '\(origin)' contains a space or '+'")
        }
        if origin.unicodeScalars.contains(where: isControl) {
            throw FormatError(line: line, "the origin contains a control character")
        }
    }
}

/// Why `path` cannot name an entry of a release, or nil when it can: it must be relative,
/// `/`-separated, with no empty, `.`, `..` or `.git` component.
public func pathProblem(_ path: [UInt8]) -> String? {
    if path.isEmpty { return "empty path" }
    if path.first == UInt8(ascii: "/") { return "absolute path" }
    var start = path.startIndex
    while true {
        let end = path[start...].firstIndex(of: UInt8(ascii: "/")) ?? path.endIndex
        if let reason = invalidNameReason(path[start..<end]) { return reason }
        if end == path.endIndex { return nil }
        start = end + 1
    }
}

/// C0 controls, DEL and C1 controls: none may appear raw in a note text.
func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}

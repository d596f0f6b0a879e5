import GlassboxCrypto
import GlassboxGit

extension Manifest {
    /// The bytes that start a signature line: U+2014 EM DASH and a space.
    public static let signaturePrefix: [UInt8] = [0xE2, 0x80, 0x94, 0x20]

    /// Parses a manifest strictly. The stated count and root are kept as stated; compare them
    /// with `checkConsistency()`, so a verifier can report a mismatch as a finding.
    /// - Throws: `FormatError` naming the line for anything that is not exactly the format:
    ///   a missing final newline, a line over `maxLineLength`, a note text that is not UTF-8 or
    ///   has control characters, unknown or misordered extension lines, more than
    ///   `maxSignatures` signature lines, an entry line that is malformed, escaped in a
    ///   non-canonical way, unsorted or duplicated.
    public static func parse(_ bytes: [UInt8]) throws -> Manifest {
        var lines = ByteLines(bytes)
        return try parse(lines: &lines)
    }

    /// Parses a manifest from a line source, one line at a time, so a caller can stream a large
    /// file; see `parse(_:)` for what is checked. With `onEntry`, each entry goes to it, in
    /// order, instead of into `entries`, so memory does not grow with the entry count.
    public static func parse(lines reader: inout some LineReader,
                             onEntry: ((TreeEntry) throws -> Void)? = nil) throws -> Manifest {
        var lineNumber = 0
        func nextLine() throws -> ArraySlice<UInt8>? {
            guard let line = try reader.nextLine() else { return nil }
            lineNumber += 1
            guard line.count <= maxLineLength else {
                throw FormatError(line: lineNumber, "the line is longer than \(maxLineLength) bytes")
            }
            // CR never appears raw: entries escape it, and the note text must not hold it.
            if line.contains(0x0D) {
                throw FormatError(line: lineNumber, "the line contains a carriage return (CR)")
            }
            return line
        }

        // The note text: origin, count, root, extension lines, then an empty line.
        var noteLines: [String] = []
        // The signed bytes are kept exactly as read, never rebuilt from the parsed strings.
        var noteText: [UInt8] = []
        var sawEmptyLine = false
        while let line = try nextLine() {
            if line.isEmpty { sawEmptyLine = true; break }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw FormatError(line: lineNumber, "the note text is not valid UTF-8")
            }
            if text.unicodeScalars.contains(where: isControl) {
                throw FormatError(line: lineNumber, "the note text contains a control character")
            }
            noteLines.append(text)
            noteText += line
            noteText.append(0x0A)
            guard noteText.count <= maxNoteText else {
                throw FormatError(line: lineNumber, "the note text is longer than \(maxNoteText) bytes")
            }
        }
        if lineNumber == 0 { throw FormatError(line: nil, "the file is empty") }
        guard sawEmptyLine, !noteLines.isEmpty else {
            throw FormatError(line: lineNumber, "the note text is not followed by an empty line")
        }
        let (header, count, root) = try parseNoteLines(noteLines)

        // Signature lines, then entry lines.
        var signatures: [[UInt8]] = []
        var entries: [TreeEntry] = []
        var entryCount: UInt64 = 0
        var lastPath: [UInt8]?
        var builder = Merkle.RootBuilder()
        while let line = try nextLine() {
            if lastPath == nil && line.starts(with: signaturePrefix) {
                guard signatures.count < maxSignatures else {
                    throw FormatError(line: lineNumber, "more than \(maxSignatures) signature lines")
                }
                signatures.append(Array(line))
                continue
            }
            let entry = try parseEntry(line, lineNumber: lineNumber)
            if let last = lastPath {
                if last == entry.path {
                    throw FormatError(line: lineNumber, "duplicate path '\(Escaping.escape(entry.path))'")
                }
                guard last.lexicographicallyPrecedes(entry.path) else {
                    throw FormatError(line: lineNumber, "path '\(Escaping.escape(entry.path))' is out of order (entries are sorted by raw path bytes)")
                }
            }
            builder.append(leafHash: Merkle.leafHash(line))
            lastPath = entry.path
            entryCount += 1
            if let onEntry { try onEntry(entry) } else { entries.append(entry) }
        }

        try validate(origin: header.origin, line: 1)
        return Manifest(header: header, count: count, root: root, noteText: noteText, signatureLines: signatures,
                        entries: entries, entryCount: entryCount, computedRoot: builder.root)
    }

    /// Parses a note text (origin, count, root, extension lines), as a manifest or a proof
    /// carries it: every line ends with LF.
    /// - Throws: `FormatError` naming the line.
    public static func parseNoteText(_ text: [UInt8]) throws -> (header: ReleaseHeader, count: UInt64, root: [UInt8]) {
        guard text.last == 0x0A, let string = String(validating: text, as: UTF8.self) else {
            throw FormatError(line: nil, "the note text is not UTF-8 lines ending with a newline")
        }
        var lines = string.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()
        for (index, line) in lines.enumerated() where line.isEmpty || line.unicodeScalars.contains(where: isControl) {
            throw FormatError(line: index + 1, "an empty line or a control character in the note text")
        }
        return try parseNoteLines(lines)
    }

    private static func parseNoteLines(_ noteLines: [String]) throws -> (header: ReleaseHeader, count: UInt64, root: [UInt8]) {
        guard noteLines.count >= 4 else {
            throw FormatError(line: noteLines.count + 1, "the note text needs an origin, a count, a root and '\(formatLine)'")
        }
        try validate(origin: noteLines[0], line: 1)
        guard let count = parseDecimal(Array(noteLines[1].utf8)) else {
            throw FormatError(line: 2, "the count '\(noteLines[1])' is not a decimal number")
        }
        guard let root = decodeBase64(noteLines[2]), root.count == 32 else {
            throw FormatError(line: 3, "the root '\(noteLines[2])' is not the base64 of 32 bytes")
        }
        guard noteLines[3] == formatLine else {
            throw FormatError(line: 4, "expected '\(formatLine)', found '\(noteLines[3])'")
        }
        let header = try parseHeader(origin: noteLines[0], noteLines.dropFirst(4), firstLine: 5)
        return (header, count, root)
    }

    private static func parseHeader(origin: String, _ lines: ArraySlice<String>, firstLine: Int) throws -> ReleaseHeader {
        var lineNumber = firstLine - 1
        var rest = lines.makeIterator()
        var pending: String?
        // Takes the next line if it starts with `key `, returning the value.
        func take(_ key: String, required: Bool) throws -> String? {
            if pending == nil { pending = rest.next(); if pending != nil { lineNumber += 1 } }
            guard let line = pending, line.hasPrefix(key + " ") else {
                if required {
                    throw FormatError(line: lineNumber + (pending == nil ? 1 : 0),
                                      "expected a '\(key) …' line, found \(pending.map { "'\($0)'" } ?? "the end of the note text")")
                }
                return nil
            }
            pending = nil
            return String(line.dropFirst(key.count + 1))
        }
        func text(_ value: String, _ what: String) throws -> String {
            guard let raw = Escaping.unescape(Array(value.utf8)), let s = String(validating: raw, as: UTF8.self) else {
                throw FormatError(line: lineNumber, "the \(what) is not canonically escaped UTF-8 text")
            }
            return s
        }
        func objectId(_ value: String, _ what: String) throws -> String {
            guard decodeHex(Array(value.utf8), count: value.utf8.count / 2) != nil,
                  value.utf8.count == 40 || value.utf8.count == 64 else {
                throw FormatError(line: lineNumber, "the \(what) id '\(value)' is not 40 or 64 lowercase hex digits")
            }
            return value
        }

        let name = try text(try take("name", required: true)!, "name")
        let version = try text(try take("version", required: true)!, "version")
        let source: ReleaseSource
        var gitArchive = false
        switch try take("source", required: true)! {
        case "directory":
            source = .directory
        case let kind where kind == "git" || kind == "git-archive":
            gitArchive = kind == "git-archive"
            let commit = try objectId(try take("commit", required: true)!, "commit")
            let tree = try objectId(try take("tree", required: true)!, "tree")
            var tagName: [UInt8]?
            if let tag = try take("tag", required: false) {
                guard let raw = Escaping.unescape(Array(tag.utf8)), !raw.isEmpty else {
                    throw FormatError(line: lineNumber, "the tag name is not escaped canonically")
                }
                tagName = raw
            }
            let tagObject = try take("tag-object", required: false).map { try objectId($0, "tag object") }
            source = .git(commit: commit, tree: tree, tagName: tagName, tagObject: tagObject)
        case let other:
            throw FormatError(line: lineNumber, "unknown source '\(other)' (expected git, git-archive or directory)")
        }
        var recipe: [UInt8]?
        if let value = try take("recipe", required: false) {
            guard let path = Escaping.unescape(Array(value.utf8)), pathProblem(path) == nil else {
                throw FormatError(line: lineNumber, "the recipe '\(value)' is not a canonically escaped release path")
            }
            recipe = path
        }
        var artifacts: [Artifact] = []
        while let value = try take("artifact", required: false) {
            let fields = value.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let size = parseDecimal(Array(fields[0].utf8)),
                  let digest = decodeHex(Array(fields[1].utf8), count: 32),
                  let name = Escaping.unescape(Array(fields[2].utf8)), pathProblem(name) == nil else {
                throw FormatError(line: lineNumber, "expected 'artifact SIZE SHA256 NAME'")
            }
            if let last = artifacts.last, !last.name.lexicographicallyPrecedes(name) {
                throw FormatError(line: lineNumber, "artifact '\(fields[2])' is duplicated or out of order")
            }
            artifacts.append(Artifact(name: name, size: size, sha256: digest))
        }
        if let extra = pending ?? rest.next() {
            if pending == nil { lineNumber += 1 }
            throw FormatError(line: lineNumber, "unexpected line in the note text: '\(extra)'")
        }
        return ReleaseHeader(origin: origin, name: name, version: version, source: source, artifacts: artifacts,
                             gitArchive: gitArchive, recipe: recipe)
    }

    /// Parses one entry line: `KIND SIZE DIGEST PATH`.
    static func parseEntry(_ line: ArraySlice<UInt8>, lineNumber: Int) throws -> TreeEntry {
        // Three spaces split four fields; the path, last, may hold more spaces.
        let space = UInt8(ascii: " ")
        guard let s1 = line.firstIndex(of: space), let s2 = line[(s1 + 1)...].firstIndex(of: space),
              let s3 = line[(s2 + 1)...].firstIndex(of: space) else {
            throw FormatError(line: lineNumber, "expected 'KIND SIZE SHA256 PATH'")
        }
        let kindField = line[line.startIndex..<s1], sizeField = line[(s1 + 1)..<s2]
        let digestField = line[(s2 + 1)..<s3], pathField = line[(s3 + 1)...]
        guard let kind = entryKind(kindField) else {
            throw FormatError(line: lineNumber, "unknown kind '\(String(decoding: kindField, as: UTF8.self))' (expected file, exec, link or submodule)")
        }
        let size: UInt64
        let digest: [UInt8]?
        if kind == .submodule {
            guard sizeField.count == 1, sizeField.first == UInt8(ascii: "-") else {
                throw FormatError(line: lineNumber, "a submodule's size field must be '-'")
            }
            size = 0
            digest = decodeHex(digestField, count: 20) ?? decodeHex(digestField, count: 32)
        } else {
            guard let value = parseDecimal(sizeField) else {
                throw FormatError(line: lineNumber, "the size '\(String(decoding: sizeField, as: UTF8.self))' is not a decimal number")
            }
            size = value
            digest = decodeHex(digestField, count: 32)
        }
        guard let digest else {
            throw FormatError(line: lineNumber, "the digest '\(String(decoding: digestField, as: UTF8.self))' is not lowercase hex of the right length")
        }
        guard let path = Escaping.unescape(pathField) else {
            throw FormatError(line: lineNumber, "the path '\(String(decoding: pathField, as: UTF8.self))' is not escaped canonically")
        }
        if let reason = pathProblem(path) {
            throw FormatError(line: lineNumber, "the path '\(String(decoding: pathField, as: UTF8.self))' is not a valid release path: \(reason)")
        }
        return TreeEntry(path: path, kind: kind, size: size, digest: digest)
    }

    private static let kindWords: [(word: [UInt8], kind: EntryKind)] = EntryKind.allCases.map { (Array($0.rawValue.utf8), $0) }

    private static func entryKind(_ field: ArraySlice<UInt8>) -> EntryKind? {
        kindWords.first { $0.word.elementsEqual(field) }?.kind
    }
}

/// A canonical unsigned decimal (no sign, no leading zeros), or nil.
func parseDecimal(_ digits: [UInt8]) -> UInt64? { parseDecimal(digits[...]) }

/// A canonical unsigned decimal (no sign, no leading zeros), or nil.
func parseDecimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
    guard !digits.isEmpty, digits.count <= 20 else { return nil }
    if digits.count > 1 && digits.first == 48 { return nil }
    var value: UInt64 = 0
    for d in digits {
        guard (48...57).contains(d) else { return nil }
        let (times, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.addingReportingOverflow(UInt64(d - 48))
        if o1 || o2 { return nil }
        value = sum
    }
    return value
}

/// A source of lines, each without its LF.
public protocol LineReader {
    /// The next line without its LF, or nil at the end of the input. A line longer than
    /// `Manifest.maxLineLength` may be returned cut to just over that length.
    /// - Throws: `FormatError` when the input ends without a final LF, or cannot be read.
    mutating func nextLine() throws -> ArraySlice<UInt8>?
}

/// The lines of bytes held in memory.
public struct ByteLines: LineReader {
    private let bytes: [UInt8]
    private var start = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func nextLine() throws -> ArraySlice<UInt8>? {
        guard start < bytes.count else { return nil }
        guard let end = bytes[start...].firstIndex(of: 0x0A) else {
            throw FormatError(line: nil, "the file does not end with a newline (truncated?)")
        }
        defer { start = end + 1 }
        return bytes[start..<end]
    }
}

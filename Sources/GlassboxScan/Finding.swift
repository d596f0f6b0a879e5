import GlassboxGit

/// One place where a reader's eye may not see what the compiler sees.
public struct ScanFinding: Sendable, Equatable {
    public enum Severity: String, Sendable, Comparable, CaseIterable {
        case note, warning, error
        public static func < (a: Severity, b: Severity) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// A stable identifier, e.g. `bidi-unterminated`.
    public var rule: String
    public var severity: Severity
    /// The path, escaped as in manifests.
    public var path: String
    /// 1-based line and column (in code points), where the finding is in a file's text.
    public var line: Int?
    public var column: Int?
    /// The offending code points, e.g. `U+202E RIGHT-TO-LEFT OVERRIDE`.
    public var codePoints: [String]
    public var message: String
    /// For a finding about one line of a file's text: SHA-256, in lowercase hex, of that line's
    /// bytes as the scan read them (UTF-8; decoded from UTF-16 or UTF-32 when the file is),
    /// without its LF. It is part of the fingerprint, so triage that accepted one line does not
    /// accept another. Nil for findings about a path, a tree or identifiers.
    public var lineDigest: String?
    /// Every path a finding about a line of a file stands for (an attributes line: the paths
    /// whose bytes it changes), escaped as `path`; empty for most findings.
    public var paths: [String] = []

    public init(_ rule: String, _ severity: Severity, path: [UInt8], line: Int? = nil, column: Int? = nil,
                codePoints: [String] = [], _ message: String) {
        self.rule = rule
        self.severity = severity
        self.path = Escaping.escape(path)
        self.line = line
        self.column = column
        self.codePoints = codePoints
        self.message = message
    }
}

/// The scan rules, with their default severity and a one-line description (SARIF reads these).
public enum ScanRules {
    public static let all: [(id: String, severity: ScanFinding.Severity, description: String)] = [
        ("bidi-unterminated", .error, "A bidi embedding, override or isolate is left open at the end of a line, string or comment (Trojan Source, CVE-2021-42574)."),
        ("bidi-control", .warning, "A bidi control character (reported in --strict mode)."),
        ("invisible-character", .error, "An invisible or default-ignorable character in code."),
        ("control-character", .error, "A NUL or other control character (C0 but tab, LF, FF and CR; DEL) in a file a compiler, interpreter or build tool reads: editors and terminals hide it or stop at it, gcc ignores a NUL and bash runs the lines after one."),
        ("misplaced-bom", .error, "A byte order mark that is not at the start of the file."),
        ("mixed-script-identifier", .warning, "An identifier mixes letters of different scripts (UTS #39)."),
        ("confusable-identifiers", .error, "Two identifiers in one file look alike: their UTS #39 skeletons are equal (CVE-2021-42694)."),
        ("identifier-normalization", .error, "Two identifiers in one file are one text in different Unicode normal forms (NFC and NFD): a compiler sees two names, a reader one (UAX #15)."),
        ("gitattributes-filter", .error, "A .gitattributes line whose ident or working-tree-encoding changes the bytes of the files it names on checkout, or whose filter names a driver (a warning: no tree can define one)."),
        ("gitattributes-eol", .warning, "A .gitattributes line whose eol=crlf makes a checkout write CRLF into files stored with LF."),
        ("gitattributes-export", .warning, "A .gitattributes line whose export-subst or export-ignore makes the git archive tarball differ from the tag."),
        ("gitattributes-unchecked", .error, "A .gitattributes file too large or too complex to check: it may change the checked-out bytes."),
        ("symlink-absolute", .error, "A symlink with an absolute target."),
        ("symlink-escapes", .error, "A symlink whose target leaves the tree."),
        ("symlink-dangling", .warning, "A symlink whose target is not in the tree."),
        ("symlink-chain", .note, "A symlink whose target is another symlink."),
        ("path-case-collision", .error, "Paths that collide on a case-insensitive file system."),
        ("path-normalization-collision", .error, "Paths that collide on a Unicode-normalising file system (NFC/NFD)."),
        ("path-windows-reserved", .warning, "A Windows-reserved name (CON, NUL, COM1, …)."),
        ("path-trailing-dot-space", .warning, "A name ending in a dot or a space, which Windows drops."),
        ("path-git-lookalike", .error, "A path component that some file system treats as .git (.GIT, .git., git~1, .git::$INDEX_ALLOCATION, .git with a zero-width character), as git's core.protectNTFS and core.protectHFS refuse it."),
        ("path-backslash", .error, "A backslash in a name, which Windows reads as a directory separator."),
        ("path-ntfs-stream", .error, "A colon in a name, which NTFS reads as naming an alternate data stream."),
        ("path-gitfile-symlink", .error, "A symlink named .gitmodules, .gitattributes, .gitignore or .mailmap, in any spelling git reads as one."),
        ("path-gitfile-lookalike", .warning, "A name that some file system treats as .gitmodules, .gitattributes, .gitignore or .mailmap (.GITATTRIBUTES, gi7eba~1)."),
        ("path-control-character", .error, "A control character in a path."),
        ("binary-executable", .warning, "An executable or object file (ELF, PE, Mach-O, static archive) committed as source."),
        ("binary-large", .note, "A large binary blob."),
        ("lfs-pointer", .warning, "A Git LFS pointer: the content is not in the repository."),
        ("long-lines", .note, "Very long lines, typical of minified or generated code."),
        ("scan-limit", .warning, "Part of a file was not checked or not listed: it passed a limit that keeps the scan's memory bounded."),
        ("submodule-missing", .warning, "A submodule whose pinned commit is not in the repository, so its content cannot be reviewed."),
    ]

    static func severity(_ rule: String) -> ScanFinding.Severity { all.first { $0.id == rule }!.severity }
}

/// Options that change what is reported.
public struct ScanOptions: Sendable {
    /// Report every bidi control and invisible character, not only unterminated or in code.
    public var strict = false
    /// Files larger than this are binary blobs worth a note.
    public var largeBinaryBytes: UInt64 = 1 << 20
    /// Lines longer than this (in bytes) in a text file are reported.
    public var longLineBytes = 1000
    public init() {}
}

/// The name shown for a code point: `U+202E RIGHT-TO-LEFT OVERRIDE`.
package func describeCodePoint(_ v: UInt32) -> String {
    let hexDigits = String(v, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hexDigits.count)) + hexDigits
    let name = UnicodeTables.name(v) ?? Unicode.Scalar(v)?.properties.name
    return name.map { "\(code) \($0)" } ?? code
}


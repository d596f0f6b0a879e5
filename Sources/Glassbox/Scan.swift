import Foundation
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
        ("misplaced-bom", .error, "A byte order mark that is not at the start of the file."),
        ("mixed-script-identifier", .warning, "An identifier mixes letters of different scripts (UTS #39)."),
        ("confusable-identifiers", .error, "Two identifiers in one file look alike: their UTS #39 skeletons are equal (CVE-2021-42694)."),
        ("gitattributes-filter", .error, "A filter, ident or working-tree-encoding attribute makes the checked-out bytes differ from the git objects."),
        ("gitattributes-eol", .warning, "A text or eol attribute converts line endings on checkout."),
        ("gitattributes-export", .warning, "export-subst or export-ignore makes the git archive tarball differ from the tag."),
        ("gitattributes-unchecked", .error, "A .gitattributes file too large or too complex to check: it may change the checked-out bytes."),
        ("symlink-absolute", .error, "A symlink with an absolute target."),
        ("symlink-escapes", .error, "A symlink whose target leaves the tree."),
        ("symlink-dangling", .warning, "A symlink whose target is not in the tree."),
        ("symlink-chain", .note, "A symlink whose target is another symlink."),
        ("path-case-collision", .error, "Paths that collide on a case-insensitive file system."),
        ("path-normalization-collision", .error, "Paths that collide on a Unicode-normalising file system (NFC/NFD)."),
        ("path-windows-reserved", .warning, "A Windows-reserved name (CON, NUL, COM1, …)."),
        ("path-trailing-dot-space", .warning, "A name ending in a dot or a space, which Windows drops."),
        ("path-git-lookalike", .error, "A name that some file system treats as .git (.GIT, .git., git~1)."),
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
func describeCodePoint(_ v: UInt32) -> String {
    let hexDigits = String(v, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hexDigits.count)) + hexDigits
    let name = UnicodeTables.name(v) ?? Unicode.Scalar(v)?.properties.name
    return name.map { "\(code) \($0)" } ?? code
}

/// Whether a file is source code, by its extension, for the identifier rules.
func isSourceCode(_ path: [UInt8]) -> Bool {
    let name = String(decoding: path.split(separator: UInt8(ascii: "/")).last ?? [], as: UTF8.self).lowercased()
    guard let dot = name.lastIndex(of: ".") else { return false }
    return sourceExtensions.contains(String(name[name.index(after: dot)...]))
}

private let sourceExtensions: Set<String> = [
    "c", "h", "cc", "cpp", "cxx", "hh", "hpp", "hxx", "m", "mm", "swift", "go", "rs", "java", "kt", "kts",
    "scala", "cs", "fs", "js", "mjs", "cjs", "ts", "tsx", "jsx", "py", "rb", "php", "pl", "pm", "lua", "sh",
    "bash", "zsh", "ps1", "sql", "r", "jl", "dart", "ex", "exs", "erl", "hs", "ml", "zig", "nim", "v", "sv",
    "vhd", "vhdl", "asm", "s", "groovy", "gradle", "cmake", "tf",
]

func isIdentifierStart(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return (0x41...0x5A).contains(s.value) || (0x61...0x7A).contains(s.value) || s == "_" || s == "$" }
    return s.properties.isXIDStart
}

func isIdentifierContinue(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return isIdentifierStart(s) || (0x30...0x39).contains(s.value) }
    return s.properties.isXIDContinue
}

func usesHashComments(_ path: [UInt8]) -> Bool {
    let name = String(decoding: path, as: UTF8.self).lowercased()
    let suffixes = [".py", ".sh", ".bash", ".rb", ".pl", ".pm", ".yaml", ".yml", ".toml", ".cmake", ".mk", ".r", ".conf", ".cfg", ".ini"]
    return suffixes.contains { name.hasSuffix($0) } || name.hasSuffix("makefile") || name.hasSuffix("cmakelists.txt")
}

// MARK: - Identifiers (UTS #39)

/// UTS #39 augments a few scripts so that Japanese and Korean text is not "mixed".
private let augmented: [String: [String]] = [
    "Hani": ["Hanb", "Jpan", "Kore"], "Hira": ["Jpan"], "Kana": ["Jpan"], "Hang": ["Kore"], "Bopo": ["Hanb"],
]

/// The UTS #39 resolved script set of an identifier: empty means mixed-script. Common and
/// Inherited characters fit any script.
func resolvedScripts(_ text: String) -> Set<String>? {
    var resolved: Set<String>?
    for scalar in text.unicodeScalars {
        var set = Set(UnicodeTables.scriptExtensionCodes(scalar.value))
        if set.contains("Zyyy") || set.contains("Zinh") { continue }
        for code in set { set.formUnion(augmented[code] ?? []) }
        resolved = resolved.map { $0.intersection(set) } ?? set
    }
    return resolved
}

/// The UTS #39 skeleton: NFD, every character replaced by its prototype, NFD again.
func skeleton(_ text: String) -> String {
    var mapped = String.UnicodeScalarView()
    for scalar in text.decomposedStringWithCanonicalMapping.unicodeScalars {
        if let prototype = UnicodeTables.confusablePrototype(scalar.value) {
            mapped.append(contentsOf: prototype.compactMap(Unicode.Scalar.init))
        } else {
            mapped.append(scalar)
        }
    }
    return String(mapped).decomposedStringWithCanonicalMapping
}

func identifierFindings(path: [UInt8], _ identifiers: [String: (line: Int, column: Int)]) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    // Both rules need a character outside ASCII in some identifier.
    guard identifiers.keys.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) else { return [] }
    var bySkeleton: [String: [String]] = [:]
    for (text, place) in identifiers.sorted(by: { $0.key < $1.key }) {
        if text.utf8.contains(where: { $0 >= 0x80 }), let scripts = resolvedScripts(text), scripts.isEmpty {
            let codes = Set(text.unicodeScalars.flatMap { UnicodeTables.scriptExtensions($0.value) })
                .subtracting(["Common", "Inherited"]).sorted()
            findings.append(ScanFinding("mixed-script-identifier", .warning, path: path, line: place.line, column: place.column,
                                        codePoints: text.unicodeScalars.filter { $0.value > 0x7F }.map { describeCodePoint($0.value) },
                                        "identifier '\(text)' mixes scripts: \(codes.joined(separator: ", "))"))
        }
        bySkeleton[skeleton(text), default: []].append(text)
    }
    for (_, group) in bySkeleton.sorted(by: { $0.key < $1.key }) where group.count > 1 {
        // All-ASCII look-alikes (l and 1, rn and m) are ordinary code; a homoglyph attack needs a
        // character from outside ASCII.
        guard group.contains(where: { $0.unicodeScalars.contains { $0.value > 0x7F } }) else { continue }
        for text in group where text.unicodeScalars.contains(where: { $0.value > 0x7F }) {
            let place = identifiers[text]!
            let others = group.filter { $0 != text }.map { "'\($0)'" }.joined(separator: ", ")
            findings.append(ScanFinding("confusable-identifiers", .error, path: path, line: place.line, column: place.column,
                                        codePoints: text.unicodeScalars.filter { $0.value > 0x7F }.map { describeCodePoint($0.value) },
                                        "identifier '\(text)' looks like \(others) in the same file"))
        }
    }
    return findings
}

// MARK: - The tree: paths, symlinks, git attributes, submodules

/// What the tree-wide rules need besides the entries.
public struct TreeFacts: Sendable {
    /// Each symlink's target bytes, by path.
    public var linkTargets: [[UInt8]: [UInt8]] = [:]
    /// Each `.gitattributes` file's content, by path.
    public var gitattributes: [[UInt8]: [UInt8]] = [:]
    /// `.gitattributes` files too large to keep (over `AttributeLimits.fileBytes`).
    public var oversizedGitattributes: [[UInt8]] = []
    /// Submodules whose pinned commit is not in the repository.
    public var missingSubmodules: [[UInt8]] = []
    public init() {}
}

/// Scans paths, symlinks, git attributes and submodules of a whole tree.
public func scanTree(_ entries: [TreeEntry], facts: TreeFacts) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    let paths = Set(entries.map(\.path))
    var directories = Set<[UInt8]>()
    for entry in entries {
        var prefix = entry.path[...]
        while let slash = prefix.lastIndex(of: UInt8(ascii: "/")) {
            prefix = prefix[..<slash]
            if !directories.insert(Array(prefix)).inserted { break }
        }
    }
    findings += pathFindings(paths, directories)
    findings += symlinkFindings(entries, facts.linkTargets, paths: paths, directories: directories)
    findings += gitattributeFindings(entries, facts.gitattributes, oversized: facts.oversizedGitattributes.sorted { $0.lexicographicallyPrecedes($1) })
    for path in facts.missingSubmodules {
        findings.append(ScanFinding("submodule-missing", .warning, path: path,
                                    "the pinned commit is not in this repository: the submodule's content cannot be reviewed"))
    }
    return findings
}

private func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>) -> [ScanFinding] {
    pathFindings(files, directories, contains: { files.contains($0) || directories.contains($0) })
}

private func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>, contains: ([UInt8]) -> Bool) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    var byCase: [[UInt8]: [[UInt8]]] = [:]
    var byNFC: [[UInt8]: [[UInt8]]] = [:]
    // No global sort: the caller sorts the findings, and groups are sorted below.
    for path in [files, directories].joined() {
        let ascii = !path.contains { $0 >= 0x80 }
        // Two paths can only collide when folding changes one of them, so only those are kept:
        // memory stays small for the usual all-lowercase tree.
        if !ascii || path.contains(where: { (0x41...0x5A).contains($0) }) {
            let folded = ascii ? path.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
                : Array(String(decoding: path, as: UTF8.self).lowercased().utf8)
            byCase[folded, default: []].append(path)
        }
        if !ascii {
            byNFC[Array(String(decoding: path, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8), default: []].append(path)
        }
        let name = Array(path[(path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? path.startIndex)...])
        if path.contains(where: { $0 < 0x20 || $0 == 0x7F })
            || (!ascii && String(decoding: path, as: UTF8.self).unicodeScalars.contains { (0x80...0x9F).contains($0.value) }) {
            findings.append(ScanFinding("path-control-character", .error, path: path, "a control character in the name"))
        }
        if isWindowsReserved(name) {
            findings.append(ScanFinding("path-windows-reserved", .warning, path: path,
                                        "'\(Escaping.escape(name))' is a reserved device name on Windows"))
        }
        if name.last == UInt8(ascii: ".") || name.last == UInt8(ascii: " ") {
            findings.append(ScanFinding("path-trailing-dot-space", .warning, path: path,
                                        "Windows drops a trailing dot or space from '\(Escaping.escape(name))'"))
        }
        if looksLikeGitDirectory(name) {
            findings.append(ScanFinding("path-git-lookalike", .error, path: path,
                                        "'\(Escaping.escape(name))' is read as .git on some file systems (case-insensitive, NTFS or HFS+)"))
        }
    }
    // A folded or normalised name can equal a path that was not folded (an ASCII lowercase one;
    // U+212A KELVIN SIGN normalises to K).
    for (key, group) in byCase where contains(key) && !group.contains(key) { byCase[key] = group + [key] }
    for (key, group) in byNFC where contains(key) && !group.contains(key) { byNFC[key] = group + [key] }
    for (_, group) in byCase where group.count > 1 {
        for path in group.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            findings.append(ScanFinding("path-case-collision", .error, path: path,
                                        "collides on a case-insensitive file system with " + group.filter { $0 != path }.map { "'\(Escaping.escape($0))'" }.joined(separator: ", ")))
        }
    }
    for (_, group) in byNFC where group.count > 1 {
        for path in group.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            findings.append(ScanFinding("path-normalization-collision", .error, path: path,
                                        "the same name after Unicode normalisation as " + group.filter { $0 != path }.map { "'\(Escaping.escape($0))'" }.joined(separator: ", ")))
        }
    }
    return findings
}

private let reservedNames: Set<String> = Set(["CON", "PRN", "AUX", "NUL", "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
    + (1...9).flatMap { ["COM\($0)", "LPT\($0)"] })

/// CON, NUL, COM1 … with or without an extension, as Windows reserves them.
private func isWindowsReserved(_ name: [UInt8]) -> Bool {
    // Every reserved name starts with C, P, A, N or L: most names are out at the first byte.
    guard let first = name.first, "CPANLcpanl".utf8.contains(first) else { return false }
    let base = name.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
    guard (3...5).contains(base.count) else { return false }
    return reservedNames.contains(String(decoding: base, as: UTF8.self).uppercased().trimmingCharacters(in: .whitespaces))
}

/// `.git` in another spelling: other case, trailing dots or spaces, invisible characters (HFS+
/// ignores them), or the 8.3 short name `git~1` (NTFS).
private func looksLikeGitDirectory(_ name: [UInt8]) -> Bool {
    guard name != Array(".git".utf8), name.count >= 4, name.count < 64 else { return false }
    // Every spelling holds the letters g, i, t (in either case), or characters outside ASCII.
    let lower = name.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
    guard lower.contains(where: { $0 >= 0x80 }) || lower.firstRange(of: Array("git".utf8)) != nil else { return false }
    let text = String(decoding: name, as: UTF8.self)
    let visible = String(String.UnicodeScalarView(text.unicodeScalars.filter { !UnicodeTables.isDefaultIgnorable($0.value) })).lowercased()
    if visible == "git~1" { return true }
    guard visible.hasPrefix(".git") else { return false }
    return visible.dropFirst(4).allSatisfy { $0 == "." || $0 == " " }
}

/// `target` resolved against the symlink's directory, or nil when it climbs out of the tree.
func resolveLink(_ path: [UInt8], _ target: [UInt8]) -> [UInt8]? {
    var parts = path.split(separator: UInt8(ascii: "/")).dropLast().map(Array.init)
    for component in target.split(separator: UInt8(ascii: "/")) {
        if component.elementsEqual([0x2E]) { continue }
        if component.elementsEqual([0x2E, 0x2E]) {
            if parts.isEmpty { return nil }
            parts.removeLast()
        } else {
            parts.append(Array(component))
        }
    }
    return Array(parts.joined(separator: [UInt8(ascii: "/")]))
}

private func symlinkFindings(_ entries: [TreeEntry], _ targets: [[UInt8]: [UInt8]], paths: Set<[UInt8]>,
                             directories: Set<[UInt8]>) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    let links = Set(entries.filter { $0.kind == .link }.map(\.path))
    for entry in entries where entry.kind == .link {
        guard let target = targets[entry.path] else { continue }
        let shownTarget = Escaping.escape(target)
        if target.first == UInt8(ascii: "/") {
            findings.append(ScanFinding("symlink-absolute", .error, path: entry.path, "points to the absolute path '\(shownTarget)', outside the release"))
            continue
        }
        guard let resolved = resolveLink(entry.path, target) else {
            findings.append(ScanFinding("symlink-escapes", .error, path: entry.path, "points to '\(shownTarget)', which climbs out of the tree"))
            continue
        }
        if links.contains(resolved) {
            findings.append(ScanFinding("symlink-chain", .note, path: entry.path, "points to '\(shownTarget)', itself a symlink"))
        } else if !paths.contains(resolved) && !directories.contains(resolved) && !resolved.isEmpty {
            findings.append(ScanFinding("symlink-dangling", .warning, path: entry.path, "points to '\(shownTarget)', which is not in the tree"))
        }
    }
    return findings
}

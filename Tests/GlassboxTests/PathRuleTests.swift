import Foundation
@testable import GlassboxGit
@testable import GlassboxScan
import Testing

// The path rules hold a tree to what git itself refuses under core.protectNTFS and
// core.protectHFS, on every component of every path.

/// A small deterministic generator (SplitMix64), so every run tests the same names.
private struct Seeded {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

private func entry(_ path: [UInt8], _ kind: EntryKind = .file) -> TreeEntry {
    TreeEntry(path: path, kind: kind, size: 1, digest: [UInt8](repeating: 0, count: 32))
}

/// The scan of a tree of `files` and `links` (as raw bytes), as `rule path` pairs.
private func scanned(_ files: [[UInt8]], links: [[UInt8]] = []) -> [String] {
    let entries = files.map { entry($0) } + links.map { entry($0, .link) }
    return scanTree(entries, facts: TreeFacts()).map { "\($0.rule) \($0.path)" }.sorted()
}

private func scanned(_ files: [String], links: [String] = []) -> [String] {
    scanned(files.map { Array($0.utf8) }, links: links.map { Array($0.utf8) })
}

/// The paths `rule` reports in a tree, sorted. (Filtering `rule path` strings with `hasPrefix`
/// would compare characters, and a path starting with U+200C joins the space before it.)
private func reported(_ rule: String, _ files: [[UInt8]], links: [[UInt8]] = []) -> [String] {
    let entries = files.map { entry($0) } + links.map { entry($0, .link) }
    return scanTree(entries, facts: TreeFacts()).filter { $0.rule == rule }.map(\.path).sorted()
}

private func reported(_ rule: String, _ files: [String], links: [String] = []) -> [String] {
    reported(rule, files.map { Array($0.utf8) }, links: links.map { Array($0.utf8) })
}

private func shown(_ path: [UInt8]) -> String { Escaping.escape(path) }
private func shown(_ path: String) -> String { Escaping.escape(Array(path.utf8)) }

/// Names git refuses as `.git` with core.protectNTFS and core.protectHFS on: the list in git's
/// t/t1014-read-tree-confusing.sh (v2.55.0, without `.` and `..`, which the tree readers refuse
/// before the scan), the spellings the comment on `is_ntfs_dotgit` in path.c names, and `.git`
/// with each code point `next_hfs_char` in utf8.c skips. Reproduce with git itself:
/// `printf '100644 blob %s\t%s' $blob "$name" | git mktree` then `git -c core.protectNTFS=true
/// -c core.protectHFS=true read-tree` fails on each.
private let refusedAsDotGit: [[UInt8]] = refusedSpellings + hfsIgnorableSpellings + malformedSpellings

private let refusedSpellings: [[UInt8]] = [
    ".git", ".GIT", "\u{200C}.Git", ".gI\u{200C}T", ".GiT\u{200C}", "git~1", ".git. ",
    ".\\.GIT\\foobar", ".git\\foobar", ".git...:alternate-stream",
    ".git . . .", ".git::$INDEX_ALLOCATION", "GIT~1", "Git~1.", ".git:", "gIt~1 :x",
].map { (name: String) in Array(name.utf8) }

private let hfsIgnorable: [UInt32] = [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
                                      0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF]
private let hfsIgnorableSpellings: [[UInt8]] = hfsIgnorable.map { (v: UInt32) -> [UInt8] in
    Array(".g".utf8) + Array(String(Character(Unicode.Scalar(v)!)).utf8) + Array("it".utf8)
}

// git's UTF-8 reader stops at a malformed sequence, U+FFFE or U+FFFF, and is_hfs_dotgit takes
// that for the end of the name.
private let malformedSpellings: [[UInt8]] = [
    Array(".git".utf8) + [0xFF], Array(".GIT".utf8) + [0xC0, 0x80, 0x41], Array(".git\u{FFFF}x".utf8),
]

/// Ordinary names that are not `.git` to any file system.
private let ordinary = [".github", "git", ".gitkeep", "gitk", "a.git", ".git-blame-ignore-revs", "GIT~10", "git~2",
                        ".gitx", ".git~1", "..git", " .git", "_git", ".gitignore", ".gitmodules", "src/git.c"]

/// The names git's t/t0060-path-utils.sh (v2.55.0) expects `is_hfs_dotgitmodules` or
/// `is_ntfs_dotgitmodules` to match ("match .gitmodules", before `--not`), and those it
/// expects them not to match (after it); `test-tool path-utils is_dotgitmodules NAME…` checks
/// a list. git refuses a symlink with any of the first names (verify_path in read-cache.c).
private let dotGitmodules = [
    ".gitmodules", ".git\u{200C}modules", ".Gitmodules", ".gitmoduleS",
    ".gitmodules ", ".gitmodules.", ".gitmodules  ", ".gitmodules. ", ".gitmodules .", ".gitmodules..",
    ".gitmodules   ", ".gitmodules.  ", ".gitmodules . ", ".gitmodules  .",
    ".Gitmodules ", ".Gitmodules.", ".Gitmodules  ", ".Gitmodules. ", ".Gitmodules .", ".Gitmodules..",
    ".Gitmodules   ", ".Gitmodules.  ", ".Gitmodules . ", ".Gitmodules  .",
    "GITMOD~1", "gitmod~1", "GITMOD~2", "gitmod~3", "GITMOD~4",
    "GITMOD~1 ", "gitmod~2.", "GITMOD~3  ", "gitmod~4. ", "GITMOD~1 .", "gitmod~2   ", "GITMOD~3.  ", "gitmod~4 . ",
    "GI7EBA~1", "gi7eba~9",
    "GI7EB~10", "GI7EB~11", "GI7EB~99", "GI7EB~10", "GI7E~100", "GI7E~101", "GI7E~999", "~1000000", "~9999999",
    ".gitmodules:$DATA", "gitmod~4 . :$DATA",
]
private let notDotGitmodules = [
    ".gitmodules x", ".gitmodules .x", " .gitmodules", "..gitmodules", "gitmodules", ".gitmodule",
    ".gitmodules x ", ".gitmodules .x",
    "GI7EBA~", "GI7EBA~0", "GI7EBA~~1", "GI7EBA~X", "Gx7EBA~1", "GI7EBX~1",
    "GI7EB~1", "GI7EB~01", "GI7EB~1X",
    ".gitmodules,:$DATA",
]
/// The same file's "match .gitattributes", "match .gitignore" and "match .mailmap" lists.
private let otherGitFiles = [
    ".gitattributes": [".gitattributes", ".git\u{200C}attributes", ".Gitattributes", ".gitattributeS", "GITATT~1", "GI7D29~1"],
    ".gitignore": [".gitignore", ".git\u{200C}ignore", ".Gitignore", ".gitignorE", "GITIGN~1", "GI250A~1"],
    ".mailmap": [".mailmap", ".mail\u{200C}map", ".Mailmap", ".mailmaP", "MAILMA~1", "MABA30~1"],
]

@Suite struct PathRuleTests {
    @Test func gitsRefusedNamesForDotGitAreReportedAsAnyComponent() {
        for name in refusedAsDotGit {
            // The last name of a file, and a directory in the middle of a path.
            #expect(reported("path-git-lookalike", [name]) == [shown(name)], "\(shown(name)) as a file")
            let directory = Array("a/".utf8) + name
            #expect(reported("path-git-lookalike", [directory + Array("/b".utf8), directory + Array("/c".utf8)]) == [shown(directory)],
                    "\(shown(name)) as a directory")
        }
    }

    @Test func ordinaryNamesAreNotReported() {
        #expect(scanned(ordinary) == [])
    }

    @Test func eachBadComponentIsReportedOnceWhereItFirstAppears() {
        let found = scanned(["a/.GIT/b/git~1/c", "a/.GIT/b/git~1/d", "a/.GIT/e", "x/y:z/w", "x/y:z/v", "p\\q/r"])
        #expect(found == [
            "path-backslash \(shown("p\\q"))",
            "path-git-lookalike a/.GIT", "path-git-lookalike a/.GIT/b/git~1",
            "path-ntfs-stream x/y:z",
        ])
    }

    @Test func backslashesAndStreamsAreErrorsAsGitForWindowsRefusesThem() {
        let found = scanTree([entry(Array("dir\\file".utf8)), entry(Array("notes:hidden".utf8))], facts: TreeFacts())
        #expect(found.map { "\($0.rule) \($0.severity) \($0.path)" }.sorted() == [
            "path-backslash error \(shown("dir\\file"))", "path-ntfs-stream error notes:hidden",
        ])
        for rule in ["path-git-lookalike", "path-backslash", "path-ntfs-stream", "path-gitfile-symlink"] {
            #expect(ScanRules.severity(rule) == .error, "\(rule)")
        }
        #expect(ScanRules.severity("path-gitfile-lookalike") == .warning)
        // Each finding carries its rule's severity, as SARIF lists it.
        let mixed = scanTree((refusedAsDotGit + [Array("CON.txt ".utf8), Array(".GITATTRIBUTES".utf8)]).map { entry($0) }
                             + [entry(Array(".gitmodules".utf8), .link)], facts: TreeFacts())
        #expect(Set(mixed.map(\.rule)).count >= 7)
        for finding in mixed { #expect(finding.severity == ScanRules.severity(finding.rule), "\(finding.rule)") }
    }

    @Test func gitsNamesForGitmodulesAreReportedAsSymlinksAndLookalikes() {
        for (file, names) in [(".gitmodules", dotGitmodules)] + otherGitFiles.sorted(by: { $0.key < $1.key }) {
            for name in names {
                #expect(reported("path-gitfile-symlink", [], links: ["d/" + name]) == [shown("d/" + name)], "\(shown(name)) as \(file)")
                #expect(reported("path-gitfile-lookalike", [], links: ["d/" + name]) == [])
                let asFile = scanTree([entry(Array(("d/" + name).utf8))], facts: TreeFacts()).filter { $0.rule.hasPrefix("path-gitfile") }
                #expect(asFile.map(\.rule) == (name == file ? [] : ["path-gitfile-lookalike"]), "\(shown(name)) as \(file)")
                #expect(asFile.allSatisfy { $0.message.contains("read as \(file)") })
            }
        }
        for name in notDotGitmodules {
            #expect(reported("path-gitfile-symlink", [name], links: ["d/" + name]) == [], "\(shown(name))")
            #expect(reported("path-gitfile-lookalike", [name], links: ["d/" + name]) == [], "\(shown(name))")
        }
        // A directory is not one of these files; a backslash makes the parts before it directories.
        #expect(reported("path-gitfile-lookalike", [".GITMODULES/x", ".gitmodules\\x", "x\\.GitIgnore"]) == [shown("x\\.GitIgnore")])
        #expect(reported("path-gitfile-symlink", [], links: [".GITMODULES/x", ".gitmodules\\x"]) == [])
        // Unless a colon or malformed UTF-8 ends the name first: git reads no further (found by
        // the comparison with git below).
        let ended: [[UInt8]] = [Array(".gitmodules:\\x".utf8), Array(".gitmodules".utf8) + [0xFF] + Array("\\x".utf8),
                                Array(".GitModules\u{FFFF}\\".utf8)]
        #expect(reported("path-gitfile-symlink", [], links: ended) == ended.map(shown).sorted())
    }

    @Test func windowsReservedNamesAsGitForWindowsReadsThem() {
        let reserved = ["CONIN$", "conout$.txt", "LPT0", "NUL:stream", "CON .txt", "aux", "com9.c", "COM\u{00B9}"]
        let fine = ["CONSOLE", "COM10", "null.txt", "lpt", "xcon"]
        #expect(reported("path-windows-reserved", reserved + fine) == reserved.map { shown($0) }.sorted())
    }

    /// A hostile tree (4096-byte names of the characters the rules look at, deep paths) takes time
    /// in proportion to its bytes: a quadratic rule would take minutes here.
    @Test func hostileNamesTakeLinearTime() {
        let pieces = ["\u{200C}", "~", ".", " ", ":", "\\", "g", "I", "t", "\u{FEFF}", "\u{FF}", "1"]
        var files: [[UInt8]] = []
        for i in 0..<400 {
            var name: [UInt8] = Array("\(i)".utf8)
            while name.count < 4080 { name += Array(pieces[(name.count * 7 + i) % pieces.count].utf8) }
            files.append(name)
        }
        let deep = Array(repeating: ".git.", count: 600).joined(separator: "/")
        files.append(Array(deep.utf8))
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = scanned(files) }
        #expect(elapsed < .seconds(20))
        #expect(reported("path-git-lookalike", [Array(deep.utf8)]).count == 600)
    }

    @Test func reportsEveryNameGitRefuses() throws {
        // git itself is the oracle: a tree of one entry per random name, as a file and as a
        // symlink, and `git read-tree` with core.protectNTFS and core.protectHFS on. Whatever it
        // refuses, the scan reports (it may report more: invisible characters git does not skip).
        var random = Seeded(state: 11)
        // A name is a spelling of .git or .gitmodules, or nearly one, with pieces around it.
        let cores = ["git", "GiT", "gitmodules", "GitModuleS", "gitmod~1", "GITMOD~4", "gitmod~5", "gi7eba~1", "GI7EB~10",
                     "gi7eb~01", "git~1", "Git~2", "gitmodule", "~1000000", "gi"].map { (core: String) in Array(core.utf8) }
        let pieces: [[UInt8]] = [".", ".", " ", ":", "\\", "\u{200C}", "\u{FEFF}", "\u{00AD}", "x", "$DATA", "~1", "t"]
            .map { (piece: String) in Array(piece.utf8) } + [[0xFF], [0xEF, 0xBF, 0xBF]]
        var names = Set<[UInt8]>()
        while names.count < 1000 {
            var core = cores[random.below(cores.count)]
            if random.below(4) == 0 { core.insert(contentsOf: random.pick(pieces), at: random.below(core.count + 1)) }
            let before = (0..<(random.below(4) == 0 ? 1 : 0)).flatMap { _ in random.pick(pieces) }
            let after = (0..<random.below(4)).flatMap { _ in random.pick(pieces) }
            let name = before + (random.below(5) == 0 ? [] : [UInt8(ascii: ".")]) + core + after
            if invalidNameReason(name) == nil { names.insert(name) }
        }
        let ordered = names.sorted { $0.lexicographicallyPrecedes($1) }
        let dir = try temporaryDirectory()
        #expect(try run("git", ["init", "-q", dir.path]).status == 0)
        let blob = try run("sh", ["-c", "printf x | git hash-object -w --stdin"], in: dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var input: [UInt8] = []
        for mode in ["100644 blob", "120000 blob"] {
            for name in ordered { input += Array("\(mode) \(blob)\t".utf8) + name + Array("\n\n".utf8) }
        }
        try Data(input).write(to: dir.appendingPathComponent("trees"))
        let script = "git mktree --batch < trees | while read t; do git -c core.protectNTFS=true -c core.protectHFS=true read-tree $t 2>/dev/null && echo ok || echo refused; done"
        let verdicts = try run("sh", ["-c", script], in: dir).stdout.split(separator: "\n")
        try #require(verdicts.count == 2 * ordered.count)
        var refused = 0, missed: [String] = []
        for (index, name) in (ordered + ordered).enumerated() where verdicts[index] == "refused" {
            refused += 1
            let isLink = index >= ordered.count
            let rules = Set(scanTree([entry(name, isLink ? .link : .file)], facts: TreeFacts()).map(\.rule))
            if rules.isDisjoint(with: ["path-git-lookalike", "path-gitfile-symlink"]) || (!isLink && !rules.contains("path-git-lookalike")) {
                missed.append("\(shown(name))\(isLink ? " (symlink)" : "")")
            }
        }
        // Enough of each verdict that the comparison means something.
        #expect(refused > 60 && refused < 2 * ordered.count - 200, "\(refused) refused")
        #expect(missed == [])
    }
}

import Foundation
@testable import Glassbox
@testable import GlassboxGit
@testable import GlassboxScan
import Testing

// The scan reads hostile trees: these tests hold it to bounded time and memory, and to git's own
// reading of attribute patterns.

/// A small deterministic generator (SplitMix64), so every run tests the same cases.
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

// MARK: - A reference matcher

/// Plain backtracking over the pattern text, written from the rules in gitattributes(5) and
/// git's wildmatch, without compiling anything: slow on purpose-built patterns, so the tests
/// keep its inputs small.
private func referenceMatches(_ raw: [UInt8], _ path: [UInt8]) -> Bool {
    let slash = UInt8(ascii: "/")
    var pattern = Array(raw.prefix { $0 != 0 })
    if pattern.first == UInt8(ascii: "!") || pattern.last == slash { return false }
    if !pattern.contains(slash) {
        let name = Array(path[(path.lastIndex(of: slash).map { $0 + 1 } ?? 0)...])
        return referenceGlob(pattern, 0, name, 0, pathname: false)
    }
    if pattern.first == slash { pattern.removeFirst() }
    // Git compares the literal start first and globs the rest as a pattern of its own.
    let literal = pattern.firstIndex { "*?[\\".utf8.contains($0) } ?? pattern.count
    guard path.starts(with: pattern[..<literal]) else { return false }
    return referenceGlob(Array(pattern[literal...]), 0, Array(path[literal...]), 0, pathname: true)
}

private func referenceGlob(_ p: [UInt8], _ i: Int, _ s: [UInt8], _ j: Int, pathname: Bool) -> Bool {
    let slash = UInt8(ascii: "/")
    guard i < p.count else { return j == s.count }
    switch p[i] {
    case UInt8(ascii: "\\"):
        return i + 1 < p.count && j < s.count && s[j] == p[i + 1] && referenceGlob(p, i + 2, s, j + 1, pathname: pathname)
    case UInt8(ascii: "?"):
        return j < s.count && !(pathname && s[j] == slash) && referenceGlob(p, i + 1, s, j + 1, pathname: pathname)
    case UInt8(ascii: "*"):
        var end = i
        while end < p.count && p[end] == UInt8(ascii: "*") { end += 1 }
        let before = i == 0 || p[i - 1] == slash
        let after = end == p.count || p[end] == slash || (end + 1 < p.count && p[end] == UInt8(ascii: "\\") && p[end + 1] == slash)
        let crosses = !pathname || (end - i >= 2 && before && after)
        // `x/**/y` also matches `x/y`: the `**/` may stand for nothing at all.
        if crosses && pathname && end < p.count && p[end] == slash && referenceGlob(p, end + 1, s, j, pathname: pathname) {
            return true
        }
        var k = j
        while true {
            if referenceGlob(p, end, s, k, pathname: pathname) { return true }
            if k == s.count || (!crosses && s[k] == slash) { return false }
            k += 1
        }
    case UInt8(ascii: "["):
        guard let (member, next) = referenceBracket(p, i) else { return false }
        return j < s.count && member(s[j]) && !(pathname && s[j] == slash) && referenceGlob(p, next, s, j + 1, pathname: pathname)
    default:
        return j < s.count && s[j] == p[i] && referenceGlob(p, i + 1, s, j + 1, pathname: pathname)
    }
}

/// A bracket expression at `open` as a predicate, and where the pattern continues; nil when malformed.
private func referenceBracket(_ p: [UInt8], _ open: Int) -> ((UInt8) -> Bool, Int)? {
    var tests: [(UInt8) -> Bool] = []
    var k = open + 1
    let negate = k < p.count && (p[k] == UInt8(ascii: "!") || p[k] == UInt8(ascii: "^"))
    if negate { k += 1 }
    let classes: [String: (UInt8) -> Bool] = [
        "alnum": { $0 < 128 && (Character(Unicode.Scalar($0)).isLetter || Character(Unicode.Scalar($0)).isNumber) },
        "alpha": { $0 < 128 && Character(Unicode.Scalar($0)).isLetter },
        "digit": { (48...57).contains($0) }, "lower": { (97...122).contains($0) }, "upper": { (65...90).contains($0) },
        "space": { [9, 10, 13, 32].contains($0) }, "blank": { $0 == 9 || $0 == 32 },
        "cntrl": { $0 < 32 || $0 == 127 }, "print": { (32...126).contains($0) }, "graph": { (33...126).contains($0) },
        "punct": { (33...126).contains($0) && !Character(Unicode.Scalar($0)).isLetter && !Character(Unicode.Scalar($0)).isNumber },
        "xdigit": { Character(Unicode.Scalar($0)).isHexDigit && $0 < 128 },
    ]
    var last: UInt8?
    var count = 0
    while true {
        guard k < p.count else { return nil }
        if p[k] == UInt8(ascii: "]") && count > 0 { break }
        count += 1
        if p[k] == UInt8(ascii: "\\") {
            guard k + 1 < p.count else { return nil }
            let c = p[k + 1]
            tests.append { $0 == c }
            last = c
            k += 2
        } else if p[k] == UInt8(ascii: "-"), let low = last, k + 1 < p.count, p[k + 1] != UInt8(ascii: "]") {
            var high = p[k + 1]
            k += 2
            if high == UInt8(ascii: "\\") {
                guard k < p.count else { return nil }
                high = p[k]
                k += 1
            }
            tests.append { low <= $0 && $0 <= high }
            last = nil
        } else if p[k] == UInt8(ascii: "["), k + 1 < p.count, p[k + 1] == UInt8(ascii: ":"),
                  let close = p[(k + 2)...].firstIndex(of: UInt8(ascii: "]")),
                  close - (k + 2) >= 1, p[close - 1] == UInt8(ascii: ":") {
            guard let test = classes[String(decoding: p[(k + 2)..<(close - 1)], as: UTF8.self)] else { return nil }
            tests.append(test)
            last = nil
            k = close + 1
        } else if p[k] == UInt8(ascii: "["), k + 1 < p.count, p[k + 1] == UInt8(ascii: ":"),
                  p[(k + 2)...].firstIndex(of: UInt8(ascii: "]")) == nil {
            return nil
        } else {
            let c = p[k]
            tests.append { $0 == c }
            last = c
            k += 1
        }
    }
    return ({ byte in tests.contains { $0(byte) } != negate }, k + 1)
}

// MARK: - Attribute patterns

@Suite struct AttributePatternTests {
    private func matches(_ pattern: String, _ path: String) -> Bool { attributePatternMatches(Array(pattern.utf8), Array(path.utf8)) }

    @Test func reversedRangeMatchesNothingButItsFirstByte() {
        // Before: building the range `z...a` stopped the program. Git adds the `z` as a member
        // on its own and the reversed range adds nothing (checked with git 2.39 check-attr).
        #expect(matches("[z-a]", "z"))
        #expect(!matches("[z-a]", "a"))
        #expect(!matches("[z-a]", "m"))
        #expect(!matches("x[9-0]y", "x5y"))
        #expect(matches("x[9-0]y", "x9y"))
    }

    @Test func manyStarsAgainstALongNameTakeFewSteps() throws {
        // Before: backtracking tried every way to split 40 bytes among 11 stars.
        let pattern = try #require(AttributePattern(Array(("*a*a*a*a*a*a*a*a*a*a*a*b").utf8)))
        let name = [UInt8](repeating: UInt8(ascii: "a"), count: 40)
        var steps = Int.max
        #expect(!pattern.matches(name[...], steps: &steps))
        let taken = Int.max - steps
        #expect(taken <= (pattern.tokens.count + 1) * name.count)
        var again = Int.max
        #expect(pattern.matches((name + [UInt8(ascii: "b")])[...], steps: &again))
        // A path with slashes and `**` works the same way.
        let deep = try #require(AttributePattern(Array("**/**/**/**/**/**/x*x*x*x*x*x*y".utf8)))
        let deepPath = Array((String(repeating: "a/", count: 30) + String(repeating: "x", count: 60)).utf8)
        var deepSteps = 1_000_000
        #expect(!deep.matches(deepPath[...], steps: &deepSteps))
        #expect(deepSteps > 0)
    }

    @Test func gitsFormsOfPatterns() {
        #expect(matches("*.c", "src/deep/a.c") && !matches("*.c", "a.h"))
        #expect(matches("/a.c", "a.c") && !matches("/a.c", "src/a.c"))
        #expect(matches("src/*.c", "src/a.c") && !matches("src/*.c", "src/x/a.c"))
        #expect(matches("src/**/a.c", "src/a.c") && matches("src/**/a.c", "src/x/y/a.c"))
        #expect(matches("**/a.c", "a.c") && matches("**/a.c", "x/y/a.c"))
        #expect(matches("src/**", "src/x/y") && !matches("src/**", "srcx/y"))
        #expect(matches("a/foo**", "a/foo/x"))       // git's literal-prefix reading, checked with check-attr
        #expect(!matches("a/x**y", "a/x/y"))          // elsewhere `**` is `*`
        #expect(matches("x[[:alpha:]]y", "xay") && !matches("x[[:alpha:]]y", "x1y"))
        #expect(!matches("k[[:nosuch:]]", "k1") && !matches("h[ab", "ha") && !matches("g\\", "g"))
        #expect(matches("[]]q", "]q") && matches("[!]]r", "zr") && matches("[^a]r", "br") && !matches("[^a]r", "ar"))
        #expect(matches("src/[a-c]?.c", "src/bx.c") && !matches("src/?.c", "src//.c"))
        #expect(!matches("src/", "src/a.c") && !matches("!*.c", "a.c") && matches("\\!x", "!x"))
    }

    @Test func agreesWithAReferenceBacktrackingMatcher() {
        var random = Seeded(state: 1)
        let patternPieces = ["a", "b", "/", "*", "**", "?", "[", "]", "!", "^", "-", "\\", "[:alpha:]", "[:x:]", "[:", "b-a"]
        let pathPieces = ["a", "b", "/", "-", "]", "!"]
        var disagreements: [String] = []
        for _ in 0..<20_000 {
            let pattern = Array((0..<random.below(7)).map { _ in random.pick(patternPieces) }.joined().utf8)
            let path = Array((0..<(1 + random.below(7))).map { _ in random.pick(pathPieces) }.joined().utf8)
            let fast = attributePatternMatches(pattern, path)
            if fast != referenceMatches(pattern, path) {
                disagreements.append("\(String(decoding: pattern, as: UTF8.self)) \(String(decoding: path, as: UTF8.self)) fast=\(fast)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    @Test func agreesWithGitCheckAttr() throws {
        // Git itself is the oracle: one attributes file of random patterns, each setting its own
        // attribute, and `git check-attr` on random paths.
        var random = Seeded(state: 7)
        let patternPieces = ["a", "b", "/", "*", "**", "?", "[", "]", "!", "^", "-", "\\", "[:alpha:]", "[:x:]", "b-a", "[a-b]"]
        let components = ["a", "b", "ab", "ba", "-", "]", "!", "aa", "b]"]
        var patterns: [String] = []
        while patterns.count < 2000 {
            // Leading forms that git treats specially come often enough to meet every path shape.
            let pattern = random.pick(["", "", "", "**/", "a/**/", "/", "*/"])
                + (0..<(1 + random.below(6))).map { _ in random.pick(patternPieces) }.joined()
            if pattern.hasPrefix("#") || pattern.hasPrefix("[attr]") { continue }
            patterns.append(pattern)
        }
        var paths = Set<String>()
        while paths.count < 300 {
            paths.insert((0..<(1 + random.below(4))).map { _ in random.pick(components) }.joined(separator: "/"))
        }
        let dir = try temporaryDirectory()
        #expect(try run("git", ["init", "-q", dir.path]).status == 0)
        let lines = patterns.enumerated().map { "\($0.element) p\($0.offset)" }.joined(separator: "\n") + "\n"
        try Data(lines.utf8).write(to: dir.appendingPathComponent(".gitattributes"))
        let input = dir.appendingPathComponent("paths")
        try Data(paths.sorted().joined(separator: "\n").utf8).write(to: input)
        let result = try run("sh", ["-c", "git check-attr -a --stdin < paths"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        var fromGit = Set<String>()
        for line in result.stdout.split(separator: "\n") {
            let parts = line.components(separatedBy: ": ")
            if parts.count == 3 { fromGit.insert("\(parts[0]) \(parts[1])") }
        }
        var ours = Set<String>()
        for (index, pattern) in patterns.enumerated() {
            for path in paths where attributePatternMatches(Array(pattern.utf8), Array(path.utf8)) { ours.insert("\(path) p\(index)") }
        }
        #expect(fromGit.count > 50)
        let describe = { (keys: Set<String>) in keys.sorted().prefix(10).map { key in
            "\(key) \(patterns[Int(key.split(separator: " ")[1].dropFirst())!])" } }
        #expect(ours.subtracting(fromGit).isEmpty, "\(describe(ours.subtracting(fromGit)))")
        #expect(fromGit.subtracting(ours).isEmpty, "\(describe(fromGit.subtracting(ours)))")
    }

    @Test func attributeLinesAsGitSplitsThem() throws {
        let entry = { (path: String) in TreeEntry(path: Array(path.utf8), kind: .file, size: 1, digest: [UInt8](repeating: 0, count: 32)) }
        let entries = ["a b.c", "a.c", "afoo", "sub/m.m", "x.c", "y.h"].map(entry)
        // CR is a blank; a quoted pattern is unquoted; a macro definition names no path but
        // sets its attributes where it is used (cycles end); a negative pattern is ignored.
        let content = "*.c text\r\n\"a b.c\" filter=x\n[attr]foo filter=x\n!x.c text\n*.h foo\n"
            + "[attr]m1 m2\n[attr]m2 m1 ident\n"
        let found = gitattributeFindings(entries, [Array(".gitattributes".utf8): Array(content.utf8),
                                                   Array("sub/.gitattributes".utf8): Array("[attr]m3 eol=lf\n*.m m1 m3\n".utf8)],
                                         oversized: [])
        // `text` changes nothing on the way out; each line that does is one finding.
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0)" } == [
            "gitattributes-filter .gitattributes:2", "gitattributes-filter .gitattributes:5", "gitattributes-filter sub/.gitattributes:2",
        ])
        #expect(found.map(\.paths) == [["a b.c"], ["y.h"], ["sub/m.m"]])
        #expect(found[1].message.hasPrefix("'filter=x' (set by macro 'foo') for *.h"))
        #expect(found[2].message.hasPrefix("'ident' (set by macro 'm2') for *.m"))
    }

    @Test func attributeCheckStopsAtItsWorkLimitAndSaysSo() {
        let entries = (0..<100).map { TreeEntry(path: Array("f\($0).c".utf8), kind: .file, size: 1, digest: [UInt8](repeating: 0, count: 32)) }
        let content = Array(String(repeating: "*.c eol=crlf\n", count: 50).utf8)
        let files = [Array(".gitattributes".utf8): content]
        // The last line decides for every path: one finding, for all of them.
        let all = gitattributeFindings(entries, files, oversized: [])
        #expect(all.map(\.line) == [50])
        #expect(all.first?.paths.count == 100)
        let limited = gitattributeFindings(entries, files, oversized: [], steps: 1000)
        #expect(limited.last?.rule == "gitattributes-unchecked")
        #expect(limited.count < 200)
        let oversized = gitattributeFindings(entries, [:], oversized: [Array("big/.gitattributes".utf8)])
        #expect(oversized.map(\.rule) == ["gitattributes-unchecked"])
        #expect(oversized.first?.message.contains("too large") == true)
    }

    /// A deep path decides each directory above it once, from its parent's, and passes over
    /// directories that hold no attributes file without building their names: at 2,000 levels
    /// the findings are still exact for every file below.
    @Test func aDeepPathDecidesEachDirectoryOnce() {
        let directory = Array(repeating: "d/", count: 2000).joined()
        let entries = (0..<5).map { TreeEntry(path: Array("\(directory)f\($0).c".utf8), kind: .file, size: 1, digest: [UInt8](repeating: 0, count: 32)) }
        let files = [Array(".gitattributes".utf8): Array("*.c eol=crlf\nx/ export-ignore\n".utf8)]
        let found = gitattributeFindings(entries, files, oversized: [])
        #expect(found.map(\.rule) == ["gitattributes-eol"], "\(found.map(\.rule))")
        #expect(found.first?.paths.count == 5)
    }
}

// MARK: - Streaming content scan

/// Feeds `content` to a streaming scanner in chunks of `size` bytes (0: all at once).
private func streamed(_ path: String, _ content: [UInt8], chunk size: Int, options: ScanOptions = ScanOptions()) -> [ScanFinding] {
    let scanner = ContentScanner(path: Array(path.utf8), size: UInt64(content.count), options: options)
    content.withUnsafeBytes { all in
        var start = 0
        repeat {
            let end = size == 0 ? all.count : min(start + size, all.count)
            if !scanner.consume(UnsafeRawBufferPointer(rebasing: all[start..<end])) { break }
            start = end
        } while start < all.count
    }
    return scanner.finish()
}

private func sortedFindings(_ findings: [ScanFinding]) -> [String] {
    findings.map { "\($0.line ?? 0):\($0.column ?? 0) \($0.rule) \($0.severity) \($0.path) \($0.codePoints) \($0.message)" }.sorted()
}

private func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The contents the end-to-end scan tests use, and more that put multi-byte characters,
/// broken sequences and comment markers where chunks split them.
private let fixtures: [(String, [UInt8])] = {
    var blob = [UInt8](repeating: 7, count: 2 << 20)
    blob[100] = 0
    var list: [(String, [UInt8])] = [
        ("trojan.c", utf8("int admin = 0;\n/*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} begin admins only */\nreturn 0;\n")),
        ("string.c", utf8("char *s = \"user\u{202E} \u{2066}// check\u{2069} \u{2066}\";\n")),
        ("hebrew.c", utf8("// שלום עולם: a greeting\nchar *t = \"\u{2067}مرحبا\u{2069}\";\nint x = 1; // \u{202B}نص\u{202C}\n")),
        ("zw.c", utf8("int a\u{200B}b = 1;\nint c = a\u{2060}b;\n")),
        ("bom.c", [0xEF, 0xBB, 0xBF] + utf8("int ok;\nint x\u{FEFF} = 2;\n")),
        ("emoji.c", utf8("// family: 👨\u{200D}👩\u{200D}👧 and ❤\u{FE0F}\nint fine = 1;\n")),
        ("tags.py", utf8("x = 1\u{E0041}\u{E0042}\n")),
        ("hangul.c", utf8("int \u{3164} = 3;\n")),
        ("pay.c", utf8("int p\u{0430}ypal = 1;\nint paypal = 2;\n")),
        ("ok.c", utf8("int paypal = 1; int Paypal = 2; int l1 = 3; int ll = 4;\n")),
        ("jp.c", utf8("int 変数ひらがなカタカナ = 1; int αβγ = 2;\n")),
        ("tool.o", [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]),
        ("setup.exe", [0x4D, 0x5A, 0x90, 0x00, 0x03, 0x00]),
        ("model.bin", utf8("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12345\n")),
        ("blob.dat", blob),
        ("app.min.js", utf8(String(repeating: "var a=1;", count: 400) + "\n")),
        ("small.bin", [0, 1, 2, 3]),
        ("MZ.txt", utf8("MZ is a text file starting with MZ\n")),
        ("auth.c", utf8("int x = 1; /*\u{202E} hidden */\n")),
        ("notes.txt", utf8(String(repeating: "é", count: 700) + "\n" + String(repeating: "x", count: 1200))),
        ("data.txt", utf8(String(repeating: "x", count: 1200) + "\n")),
        ("crlf.py", utf8("# \u{202E} comment\r\nx = '\u{2066}'\r\ny = 1 # \u{200B}\r\n")),
        ("escapes.js", utf8("s = \"a\\\"\u{202E}\\\\\"; t = `\u{2067}x\u{2069}`; /* \u{202A}\nstill */ u\u{200C}v = 1;\n")),
        ("broken.c", [0xE2, 0x82, 0x41, 0x0A, 0xF0, 0x9F, 0x41, 0xC0, 0xAF, 0xED, 0xA0, 0x80, 0xFF, 0x80, 0x0A]
            + utf8("int \u{202E}x;\n") + [0xF4, 0x90, 0x80, 0x80, 0xE0, 0x80, 0x80, 0x0A, 0xE2, 0x80]),
        ("nul7999.c", Array(repeating: UInt8(ascii: "x"), count: 7999) + [0] + Array(repeating: UInt8(ascii: "x"), count: 1500)),
        ("nul8000.c", Array(repeating: UInt8(ascii: "x"), count: 8000) + [0] + Array(repeating: UInt8(ascii: "x"), count: 1500)),
        ("mixed.rs", utf8("fn f() { let σx = 1; let pаypal = 2; let paypal = 3; }\n")),
        // Source that looks binary: UTF-16 and UTF-32 with a byte order mark (a surrogate pair,
        // a lone surrogate, an odd byte at the end), a NUL, a script after binary headers.
        ("wide.cs", [0xFF, 0xFE] + "int 𝔘x = 1; // \u{202E} x\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + [0x00, 0xD8, 0x41, 0x00, 0x0A]),
        ("wide.ps1", [0xFE, 0xFF] + "$a = '\u{2066}'\n".utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + [0x00]),
        ("wide32.cs", [0xFF, 0xFE, 0x00, 0x00] + "a\u{202E}\n".unicodeScalars.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.value >> (8 * $0)) } }),
        ("nul.c", utf8("int a; /* ") + [0] + utf8(" */\n/*\u{202E} x */\n") + [0, 0x1B, 0x0A]),
        ("logo.gif", utf8("GIF89a") + [0x0A, 0x0A, 0x01, 0x00, 0x80, 0xFF, 0x0A] + utf8("echo ok # \u{202E} } if admin \u{2066}\n") + [0xE2, 0x80, 0xAE, 0xFF, 0x0A]),
        ("doc.pdf", utf8("%PDF-1.5\n%") + [0xE2, 0xE3, 0xCF, 0xD3, 0x0A] + utf8("<?php // \u{202E} } if ($admin) \u{2066}\n")),
    ]
    // Every offset of a 4-byte, 3-byte and 2-byte character against every small chunk size.
    for pad in 0..<9 {
        list.append(("pad\(pad).c", utf8(String(repeating: " ", count: pad) + "int 𝔘x\u{200B} = \"中é\u{202E}\"; /* é */ a\u{2066}\n")))
    }
    return list
}()

@Suite struct ContentStreamingTests {
    /// Prefixes that put a file's own bytes past the first 8,000 (held whole for the binary
    /// decision), so chunks reach the lexer as they come: ASCII lines, and lines beyond ASCII.
    private let prefixes: [[UInt8]] = [[], utf8(String(repeating: "x\n", count: 4000)), utf8(String(repeating: "é\n", count: 2700))]

    @Test func chunkedFindingsEqualOneChunksOnFixtures() {
        for strict in [false, true] {
            var options = ScanOptions()
            options.strict = strict
            for (path, original) in fixtures {
                for (number, prefix) in prefixes.enumerated() {
                    let content = prefix + original
                    let expected = sortedFindings(streamed(path, content, chunk: 0, options: options))
                    for size in [1, 7, 4096] {
                        #expect(sortedFindings(streamed(path, content, chunk: size, options: options)) == expected,
                                "\(path), prefix \(number), chunks of \(size), strict \(strict)")
                    }
                }
            }
        }
    }

    @Test func chunkedFindingsEqualOneChunksOnRandomText() {
        var random = Seeded(state: 3)
        let pieces: [[UInt8]] = ["a", "p", "l", "1", " ", "\n", "\r\n", "/", "*", "/*", "*/", "//", "\"", "'", "`", "\\", "#",
                                 "é", "а", "σ", "中", "𝔘", "\u{202E}", "\u{2066}", "\u{2069}", "\u{202C}", "\u{200B}",
                                 "\u{200D}", "\u{FEFF}", "\u{E0041}"].map(utf8) + [[0xE2, 0x82], [0xFF], [0x80], [0xF0, 0x9F]]
        var failures: [String] = []
        for round in 0..<300 {
            let path = ["f.c", "f.py", "f.txt", "f.js"][round % 4]
            var content = prefixes[round % 3]
            for _ in 0..<(1 + random.below(120)) { content += random.pick(pieces) }
            var options = ScanOptions()
            options.strict = round % 5 == 0
            options.longLineBytes = 20
            let expected = sortedFindings(streamed(path, content, chunk: 0, options: options))
            for size in [1, 7, 4096] where sortedFindings(streamed(path, content, chunk: size, options: options)) != expected {
                failures.append("\(path) \(content.suffix(400)) chunks of \(size)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
    }

    @Test func largeFilesPassThroughTheLexerAlike() {
        // Past the held size an all-ASCII file goes through the lexer: the same findings as one
        // chunk, and a late non-ASCII character still sees the earlier identifiers.
        let ascii = String(repeating: "int paypal = 1; /* a comment */\n", count: 40_000)
        for (path, text) in [("big.c", ascii + "int p\u{0430}ypal = 2;\n"), ("big.txt", ascii + String(repeating: "y", count: 1500)),
                             ("big.js", ascii + String(repeating: "y", count: 1500)), ("late.txt", ascii + "\u{202E}\n")] {
            let content = utf8(text)
            let expected = sortedFindings(streamed(path, content, chunk: 0, options: ScanOptions()))
            #expect(!expected.isEmpty || path == "big.txt")
            for size in [4096, 1 << 20] {
                #expect(sortedFindings(streamed(path, content, chunk: size)) == expected, "\(path) \(size)")
            }
        }
    }

    @Test func perLineAndPerFileStateIsBounded() {
        // Hundreds of open overrides on one line: one finding, with the first 125 listed.
        let overrides = streamed("o.c", utf8(String(repeating: "\u{202E}", count: 300) + "\n"), chunk: 4096)
        #expect(overrides.map(\.rule) == ["bidi-unterminated"])
        #expect(overrides.first?.codePoints.count == 125)
        #expect(overrides.first?.column == 1)
        // Balanced again after the overflow still counts as open: more were opened than kept.
        let balanced = streamed("b.c", utf8(String(repeating: "\u{202E}", count: 150) + String(repeating: "\u{202C}", count: 150) + "\n"), chunk: 7)
        #expect(balanced.map(\.rule) == ["bidi-unterminated"])
        // A very long identifier is not kept, and the file says so.
        let long = streamed("l.c", utf8("int " + String(repeating: "é", count: 300) + " = 1;\n"), chunk: 7)
        #expect(long.map(\.rule) == ["scan-limit"])
        // An all-ASCII one needs no word: only identifiers beyond ASCII are compared.
        #expect(streamed("a.c", utf8("int " + String(repeating: "e", count: 300) + " = 1;\n"), chunk: 7).isEmpty)
        // Findings per file are capped, and the rest counted (1,500 invisible characters apart, one long line).
        let many = streamed("z.c", utf8("int a = " + String(repeating: "\u{200B}+", count: 1500) + ";\n"), chunk: 4096)
        #expect(many.count == 1001)
        #expect(many.last?.rule == "scan-limit" && many.last?.message.hasPrefix("501 more") == true, "\(many.last!)")
        // A run of adjacent ones is one finding, whatever its length, listing its first few.
        let run = streamed("r.c", utf8("int a = " + String(repeating: "\u{200B}", count: 100_000) + ";\n"), chunk: 4096)
        let invisible = run.filter { $0.rule == "invisible-character" }
        #expect(invisible.count == 1 && invisible.first?.codePoints.count == 16)
        #expect(invisible.first?.message == "100000 invisible characters in code")
    }

    @Test func aHugeSingleLineStreamsThrough() {
        // 16 MiB without a newline, in 1 MiB chunks like the readers': the scanner keeps no
        // line, so this finishes with the one long-line finding.
        let scanner = ContentScanner(path: Array("huge.js".utf8), size: 16 << 20, options: ScanOptions())
        var chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        chunk[0] = 0xC3   // é
        chunk[1] = 0xA9
        chunk[2] = UInt8(ascii: " ")
        for _ in 0..<16 {
            #expect(chunk.withUnsafeBytes { scanner.consume($0) })
            chunk[0...2] = [0x78, 0x78, 0x78]   // one é at the start, then ASCII
        }
        let found = scanner.finish()
        #expect(found.map(\.rule) == ["long-lines"])
        #expect(found.first?.message.contains("\(16 << 20) bytes") == true)
    }
}

// MARK: - Binary-looking files: inert lines counted, not lexed

/// Feeds `content` to a scanner that lexes every byte of a binary-looking file (`skips` false)
/// or counts its inert lines (`skips` true, as the scan does), in chunks of `size` bytes (0: all at once).
private func streamed(_ path: String, _ content: [UInt8], chunk size: Int, skips: Bool, options: ScanOptions) -> [ScanFinding] {
    let scanner = ContentScanner(path: Array(path.utf8), size: UInt64(content.count), options: options, skipsInertLines: skips)
    content.withUnsafeBytes { all in
        var start = 0
        repeat {
            let end = size == 0 ? all.count : min(start + size, all.count)
            if !scanner.consume(UnsafeRawBufferPointer(rebasing: all[start..<end])) { break }
            start = end
        } while start < all.count
    }
    return scanner.finish()
}

@Suite struct InertLineTests {
    /// Random bytes, with what changes a finding or how later lines are read mixed in: bidi
    /// controls, byte order marks, invisible characters, comment and string markers (a `/`,
    /// a CR, a `*` apart), newlines, broken sequences, and stretches of text long enough to count.
    private static func binary(_ random: inout Seeded, pieces count: Int) -> [UInt8] {
        let pieces: [[UInt8]] = ["\n", "\r\n", "/*", "*/", "/", "*", "/\r*", "//", "\"", "'", "`", "\\", "#", "é", "中", "𝔘",
                                 "\u{202E}", "\u{202A}", "\u{2066}", "\u{2069}", "\u{202C}", "\u{200E}", "\u{061C}", "\u{200B}",
                                 "\u{200D}", "\u{FEFF}", "\u{E0041}", "\u{00AD}", "\u{FE0F}", "\u{3164}", "\u{1D173}",
                                 "echo this line is long enough to be text ", "x = \"a string of text that counts\" "].map(utf8)
            + [[0xE2, 0x80], [0xE2, 0x81], [0xEF, 0xBB], [0xE2], [0xF3, 0xA0], [0xFF], [0x80], [0x00], [0xF0, 0x9F]]
        var out: [UInt8] = []
        for _ in 0..<count {
            if random.below(3) == 0 {
                out += random.pick(pieces)
            } else {
                for _ in 0..<(1 + random.below(40)) { out.append(UInt8(truncatingIfNeeded: random.next())) }
            }
        }
        return out
    }

    @Test func countingInertLinesFindsWhatLexingEveryByteFinds() {
        var random = Seeded(state: 11)
        var failures: [String] = []
        var found = 0
        for round in 0..<400 {
            // NUL early, or a signature then bytes that are not UTF-8: both look binary.
            let head: [UInt8] = round % 2 == 0 ? [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0xFF, 0x00] : [0x00] + utf8("PK")
            let content = head + Self.binary(&random, pieces: 1 + random.below(round % 10 == 0 ? 3000 : 200))
            let path = ["logo.gif", "data.bin", "archive.zip"][round % 3]
            var options = ScanOptions()
            options.strict = round % 3 == 0
            let expected = sortedFindings(streamed(path, content, chunk: 0, skips: false, options: options))
            found += expected.count
            for size in [0, 1, 7, 4096] where sortedFindings(streamed(path, content, chunk: size, skips: true, options: options)) != expected {
                failures.append("round \(round), \(path), chunks of \(size), strict \(options.strict)")
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(found > 200, "the inputs must hold findings for the comparison to mean something: \(found)")
    }

    @Test func linesLongerThanWhatIsKeptAreLexedAlike() {
        // Lines past `ContentLimits.lineKept` (no newline for 200 KB), a block comment opened in
        // one line and closed lines later, and findings at the start, middle and end of each.
        var random = Seeded(state: 12)
        var noise = [UInt8](repeating: 0, count: 200_000)
        for index in noise.indices { noise[index] = UInt8(truncatingIfNeeded: random.next()) | 0x80 }   // no newline
        let override = utf8("x = 1; \u{202E} open override in a line of text\n")
        let cases: [[UInt8]] = [
            [0] + noise + override,
            [0] + override.dropLast() + noise + utf8("\n"),
            [0] + noise + utf8("\u{FEFF}") + noise + override + noise,
            [0] + utf8("/* a comment that stays open\n\n") + noise.prefix(100) + utf8("\nstill in it \u{2066} and more text */ after\n"),
            [0] + utf8("text before a comment /* it opens\nand goes on \u{2066} closed */\n\u{2067} isolate, a line of text\n"),
            [0] + utf8("/\r\r*opened with CRs between, enough text here\n\u{202B} then an embedding in it */\n"),
            [0] + Array(repeating: UInt8(ascii: "a"), count: 300_000) + utf8("\u{202E}"),
        ]
        for (number, content) in cases.enumerated() {
            for strict in [false, true] {
                var options = ScanOptions()
                options.strict = strict
                let expected = sortedFindings(streamed("blob.bin", content, chunk: 0, skips: false, options: options))
                #expect(!expected.isEmpty, "case \(number)")
                for size in [0, 7, 4096, 1 << 20] {
                    #expect(sortedFindings(streamed("blob.bin", content, chunk: size, skips: true, options: options)) == expected,
                            "case \(number), chunks of \(size), strict \(strict)")
                }
            }
        }
    }
}

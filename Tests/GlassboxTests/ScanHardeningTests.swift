import Foundation
@testable import Glassbox
import GlassboxGit
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
        let entries = ["a b.c", "a.c", "afoo", "x.c"].map(entry)
        let content = "*.c text\r\n\"a b.c\" filter=x\n[attr]foo filter=x\n!x.c text\n"
        let found = gitattributeFindings(entries, [Array(".gitattributes".utf8): Array(content.utf8)], oversized: [])
        #expect(found.map { "\($0.rule) \($0.path)" } == [
            "gitattributes-eol a b.c", "gitattributes-eol a.c", "gitattributes-eol x.c", "gitattributes-filter a b.c",
        ])
    }

    @Test func attributeCheckStopsAtItsWorkLimitAndSaysSo() {
        let entries = (0..<100).map { TreeEntry(path: Array("f\($0).c".utf8), kind: .file, size: 1, digest: [UInt8](repeating: 0, count: 32)) }
        let content = Array(String(repeating: "*.c text\n", count: 50).utf8)
        let files = [Array(".gitattributes".utf8): content]
        #expect(gitattributeFindings(entries, files, oversized: []).count == 5000)
        let limited = gitattributeFindings(entries, files, oversized: [], steps: 1000)
        #expect(limited.last?.rule == "gitattributes-unchecked")
        #expect(limited.count < 200)
        let oversized = gitattributeFindings(entries, [:], oversized: [Array("big/.gitattributes".utf8)])
        #expect(oversized.map(\.rule) == ["gitattributes-unchecked"])
        #expect(oversized.first?.message.contains("too large") == true)
    }
}

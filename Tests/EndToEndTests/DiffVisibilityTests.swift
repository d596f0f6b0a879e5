import Foundation
import Testing

// `glassbox diff` on Trojan Source changes: the diff shows what a reader's eye would miss, and
// lists the scan findings the change brings.

private let clean = """
    int lookup(const char *user);

    int authorise(const char *user) {
        int is_admin = lookup(user);
        if (!is_admin) {
            return 0;
        }
        return 1;
    }

    """

/// An early return hidden by an unterminated RLO and LRI in a comment (Trojan Source,
/// CVE-2021-42574): the line reads as a comment, the compiler sees `return 1;`.
private let attacked = clean.replacingOccurrences(
    of: "    if (!is_admin) {\n",
    with: "    return 1; /*\u{202E} } \u{2066}if (is_admin)\u{2069} \u{2066} admins only */\n    if (!is_admin) {\n")

/// A repository with four commits: v1 clean; v2 with the early return in auth.c and a U+200B
/// as the only change to a line of limit.c, and a new file z.c with one in an identifier; v3 with lines added above the early return, which
/// moves it down; v4 with the early return taken out again.
private func trojanRepository() throws -> URL {
    let dir = try temporaryDirectory("trojan")
    try git(["init", "-q"], in: dir)
    func commit(_ files: [String: String], tag: String) throws {
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        try git(["add", "."], in: dir)
        try git(["commit", "-q", "-m", tag], in: dir)
        try git(["tag", tag], in: dir)
    }
    try commit(["auth.c": clean, "limit.c": "int limit = 10;\n"], tag: "v1")
    try commit(["auth.c": attacked, "limit.c": "int lim\u{200B}it = 10;\n", "z.c": "int z\u{200B}z = 1;\n"], tag: "v2")
    try commit(["auth.c": "// Authorisation.\n// Reviewed.\n" + attacked], tag: "v3")
    try commit(["auth.c": clean], tag: "v4")
    return dir
}

/// The bytes of a scalar in UTF-8, to look for it raw in output.
private func raw(_ scalar: Unicode.Scalar) -> Data { Data(String(scalar).utf8) }

@Suite struct DiffVisibilityTests {
    @Test func textDiffShowsBidiControlsAsEscapesNeverRaw() throws {
        let repo = try trojanRepository()
        let result = try glassbox("diff", "--repo", repo.path, "v1", "v2", "--content")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.contains("+    return 1; /*⟨U+202E⟩ } ⟨U+2066⟩if (is_admin)⟨U+2069⟩ ⟨U+2066⟩ admins only */\n"))
        for scalar: Unicode.Scalar in ["\u{202E}", "\u{2066}", "\u{2069}", "\u{200B}"] {
            #expect(result.stdoutBytes.range(of: raw(scalar)) == nil, "raw \(codePointName(scalar)) in the output")
        }
        // The findings the change brings are listed, with the code points by name.
        #expect(result.stdout.contains("new scan findings  3\n"))
        #expect(result.stdout.contains("error  bidi-unterminated  auth.c:5:17  "))
        #expect(result.stdout.contains("[U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE]"))
        #expect(result.stdout.contains("error  invisible-character  limit.c:1:8  an invisible character in code  [U+200B ZERO WIDTH SPACE]"))
    }

    @Test func aZeroWidthOnlyChangeShowsDifferentLines() throws {
        let repo = try trojanRepository()
        let result = try glassbox("diff", "--repo", repo.path, "v1", "v2", "--content")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let removed = try #require(lines.first { $0.hasPrefix("-int lim") })
        let added = try #require(lines.first { $0.hasPrefix("+int lim") })
        #expect(removed == "-int limit = 10;")
        #expect(added == "+int lim⟨U+200B⟩it = 10;")
        // What a reader sees differs: drop what draws nothing, and the lines are still different.
        func seen(_ line: String) -> String {
            String(String.UnicodeScalarView(line.unicodeScalars.filter { !$0.properties.isDefaultIgnorableCodePoint }))
        }
        #expect(seen(removed).dropFirst() != seen(added).dropFirst())
    }

    @Test func htmlMarksHiddenCharactersAndLinksFindingsToLines() throws {
        let repo = try trojanRepository()
        let html = try temporaryDirectory().appendingPathComponent("diff.html")
        let result = try glassbox("diff", "--repo", repo.path, "v1", "v2", "--content", "--html", html.path)
        #expect(result.status == 1, "\(result.stderr)")
        let bytes = try Data(contentsOf: html)
        let page = String(decoding: bytes, as: UTF8.self)
        for scalar: Unicode.Scalar in ["\u{202E}", "\u{2066}", "\u{2069}", "\u{200B}"] {
            #expect(bytes.range(of: raw(scalar)) == nil, "raw \(codePointName(scalar)) in the page")
        }
        #expect(page.contains("<mark class=\"hid bidi\" title=\"U+202E RIGHT-TO-LEFT OVERRIDE (bidi control: reorders the text after it)\">⟨U+202E⟩</mark>"))
        #expect(page.contains("<mark class=\"hid invisible\" title=\"U+200B ZERO WIDTH SPACE (invisible)\">⟨U+200B⟩</mark>"))
        // auth.c is change 0: the tree links to its block, its findings link to line 5 of the
        // new side, and the marked line links back to each finding.
        #expect(page.contains("<a href=\"#f0\"><code>auth.c</code></a>"))
        #expect(page.contains("<details open id=\"f0\">"))
        #expect(page.contains("<li id=\"f0-n1\"><span class=\"sev error\">error</span> <code>bidi-unterminated</code> <a href=\"#f0-L5\">line 5:17</a>"))
        #expect(page.contains("<span class=\"flagged\" id=\"f0-L5\"><span class=\"ins\">+    return 1; /*<mark class=\"hid bidi\""))
        #expect(page.contains("<a class=\"flag\" href=\"#f0-n1\">◀ finding 1</a>"))
        // limit.c, change 1: the same for the zero-width space.
        #expect(page.contains("<span class=\"flagged\" id=\"f1-L1\"><span class=\"ins\">+int lim<mark class=\"hid invisible\""))
        // z.c is new, so no diff shows it: the line with the finding is shown on its own.
        #expect(page.contains("<a href=\"#f2\"><code>z.c</code></a>"))
        #expect(page.contains("<code>invisible-character</code> <a href=\"#f2-L1\">line 1:6</a>"))
        #expect(page.contains("<span class=\"flagged\" id=\"f2-L1\"><span class=\"count\">1</span>  int z<mark class=\"hid invisible\""))
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"))
    }

    @Test func jsonListsTheNewFindingsAndARemovedAttackIsNotNew() throws {
        let repo = try trojanRepository()
        func findings(_ old: String, _ new: String) throws -> [[String: Any]] {
            let result = try glassbox("diff", "--repo", repo.path, old, new, "--json")
            #expect(result.status == 1, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
            return try #require(object["scanFindings"] as? [[String: Any]])
        }
        let added = try findings("v1", "v2")
        #expect(added.map { "\($0["rule"]!) \($0["path"]!):\($0["line"]!)" }
                == ["bidi-unterminated auth.c:5", "invisible-character limit.c:1",
                    "invisible-character z.c:1"])
        #expect((added.first?["codePoints"] as? [String]) == ["U+202E RIGHT-TO-LEFT OVERRIDE", "U+2066 LEFT-TO-RIGHT ISOLATE"])
        // Moving the attack down two lines brings nothing new: findings are matched by what
        // they are, not by line.
        #expect(try findings("v2", "v3").isEmpty)
        // Taking the attack out brings nothing new; the removed line is still shown marked.
        #expect(try findings("v3", "v4").isEmpty)
        let text = try glassbox("diff", "--repo", repo.path, "v3", "v4", "--content")
        #expect(text.stdout.contains("-    return 1; /*⟨U+202E⟩ } "))
        #expect(!text.stdout.contains("new scan findings"))
    }
}

/// `U+202E` for a test message: the message itself must not carry the scalar.
private func codePointName(_ scalar: Unicode.Scalar) -> String {
    "U+" + String(scalar.value, radix: 16, uppercase: true)
}

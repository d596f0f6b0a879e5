import Glassbox
import GlassboxScan
import Testing

// What a diff shows of a line: every character a reader cannot see, or would misread, is a
// marked escape; ordinary text in any script is left alone.

/// The pieces of `line` as a string: hidden scalars as `[U+XXXX reason]`.
private func marked(_ line: String) -> String {
    VisibleText.pieces(Substring(line)).map { piece in
        switch piece {
        case let .text(text): return text
        case let .hidden(scalar, reason): return "[\(VisibleText.codePoint(scalar.value)) \(reason.rawValue)]"
        }
    }.joined()
}

@Suite struct VisibleTextTests {
    @Test func bidiControlsAndInvisibleCharactersAreMarked() {
        #expect(marked("return 1; /*\u{202E} } \u{2066}if (admin)\u{2069} */")
                == "return 1; /*[U+202E bidi] } [U+2066 bidi]if (admin)[U+2069 bidi] */")
        #expect(marked("int is_a\u{200B}dmin;") == "int is_a[U+200B invisible]dmin;")
        #expect(marked("x\u{00AD}y\u{FEFF}\u{E0041}") == "x[U+00AD invisible]y[U+FEFF invisible][U+E0041 invisible]")
        #expect(marked("a\u{1B}[2Jb\u{85}c\u{2028}") == "a[U+001B control][2Jb[U+0085 control]c[U+2028 control]")
        #expect(marked("\tindented, plain ASCII") == "\tindented, plain ASCII")
    }

    @Test func lookAlikeLettersAreMarkedOnlyInsideASCIIIdentifiers() {
        // Cyrillic a (U+0430) and Greek omicron (U+03BF) inside ASCII words read as Latin a and o.
        #expect(marked("if (p\u{0430}ssword_ok(user))") == "if (p[U+0430 confusable]ssword_ok(user))")
        #expect(marked("int c\u{03BF}unt = 0;") == "int c[U+03BF confusable]unt = 0;")
        // Words wholly in another script, and letters with no ASCII look-alike, are ordinary text.
        let russian = "// \u{043F}\u{0440}\u{0438}\u{0432}\u{0435}\u{0442}: \u{03B1}\u{03B2}\u{03B3}"   // a Russian word, Greek letters
        #expect(marked(russian) == russian)
        #expect(marked("int größe = 1; // naïve café") == "int größe = 1; // naïve café")
    }

    @Test func plainTextNeverCarriesAHiddenScalar() {
        let line = "+    return 1; /*\u{202E} } \u{2066}if (is_admin)\u{2069} \u{2066} admins only */"
        let shown = VisibleText.plain(Substring(line))
        #expect(shown == "+    return 1; /*⟨U+202E⟩ } ⟨U+2066⟩if (is_admin)⟨U+2069⟩ ⟨U+2066⟩ admins only */")
        #expect(!shown.unicodeScalars.contains { Display.isUnsafe($0) })
        #expect(VisibleText.plain(Substring("int is_a\u{200B}dmin;")) != VisibleText.plain(Substring("int is_admin;")))
        #expect(VisibleText.describe("\u{202E}", .bidi).hasPrefix("U+202E RIGHT-TO-LEFT OVERRIDE"))
        #expect(VisibleText.describe("\u{0430}", .confusable).hasPrefix("U+0430 CYRILLIC SMALL LETTER A, looks like \"a\""))
    }
}

/// The findings a changed file brings: matched by rule, code points and message, not by line.
@Suite struct IntroducedFindingsTests {
    private let clean = Array("int admin = 0;\nint check(void) {\n    return admin;\n}\n".utf8)
    private let attacked = Array("int admin = 0;\nint check(void) {\n    return 1; /*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} only */\n    return admin;\n}\n".utf8)

    @Test func anAttackAddedIsNew() {
        let found = introducedFindings(path: Array("a.c".utf8), old: clean, new: attacked, options: ScanOptions())
        #expect(found.map(\.rule).contains("bidi-unterminated"))
        #expect(found.allSatisfy { $0.line == 3 })
        // A file that is new brings all its findings.
        #expect(introducedFindings(path: Array("a.c".utf8), old: nil, new: attacked, options: ScanOptions()).count == found.count)
    }

    @Test func anAttackRemovedOrMovedIsNotNew() {
        #expect(introducedFindings(path: Array("a.c".utf8), old: attacked, new: clean, options: ScanOptions()).isEmpty)
        // Lines added above move the attack down: the same finding, not a new one.
        let moved = Array("// a header\n// more\n".utf8) + attacked
        #expect(introducedFindings(path: Array("a.c".utf8), old: attacked, new: moved, options: ScanOptions()).isEmpty)
        // A second copy of the same attack is new: one more than the old version had.
        let twice = attacked + Array("/*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} only */\n".utf8)
        let found = introducedFindings(path: Array("a.c".utf8), old: attacked, new: twice, options: ScanOptions())
        #expect(!found.isEmpty && found.allSatisfy { $0.line == 6 })
    }
}

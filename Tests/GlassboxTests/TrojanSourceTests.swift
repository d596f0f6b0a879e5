import Foundation
import GlassboxGit
@testable import GlassboxScan
import Testing

// The attack classes of "Trojan Source: Invisible Vulnerabilities" (Boucher and Anderson, 2021:
// CVE-2021-42574 and CVE-2021-42694) written in many languages, each flagged exactly once, at
// its place; and right-to-left prose, balanced as every editor writes it, never flagged.

private let rlo = "\u{202E}", lri = "\u{2066}", rli = "\u{2067}", pdi = "\u{2069}", rle = "\u{202B}", pdf = "\u{202C}"

/// How a language writes what the attacks need.
private struct Language: Sendable {
    var name: String
    var path: String
    /// A comment holding `$0` on one line.
    var comment: @Sendable (String) -> String
    /// A string literal holding `$0`.
    var string: @Sendable (String) -> String
    /// A statement that uses two identifiers (the second one is the attacker's).
    var uses: @Sendable (String, String) -> String
    /// A first line the file needs (a `#!` line, a tag), or "".
    var head = ""
}

private let cComment: @Sendable (String) -> String = { "/* \($0) */" }
private let hashComment: @Sendable (String) -> String = { "# \($0)" }
private let dq: @Sendable (String) -> String = { "\"\($0)\"" }
private let sq: @Sendable (String) -> String = { "'\($0)'" }

private let languages: [Language] = [
    Language(name: "C", path: "src/auth.c", comment: cComment, string: dq, uses: { "int r = \($0)() + \($1)();" }),
    Language(name: "C++", path: "src/auth.cpp", comment: { "// \($0)" }, string: dq, uses: { "auto r = \($0)() + \($1)();" }),
    Language(name: "C#", path: "Auth.cs", comment: cComment, string: dq, uses: { "var r = \($0)() + \($1)();" }),
    Language(name: "C# script", path: "build.csx", comment: { "// \($0)" }, string: dq, uses: { "var r = \($0)() + \($1)();" }),
    Language(name: "Java", path: "Auth.java", comment: cComment, string: dq, uses: { "int r = \($0)() + \($1)();" }),
    Language(name: "JavaScript", path: "auth.js", comment: cComment, string: sq, uses: { "const r = \($0)() + \($1)();" }),
    Language(name: "TypeScript", path: "auth.ts", comment: { "// \($0)" }, string: { "`\($0)`" }, uses: { "const r: number = \($0)() + \($1)();" }),
    Language(name: "Go", path: "auth.go", comment: cComment, string: dq, uses: { "r := \($0)() + \($1)()" }),
    Language(name: "Rust", path: "src/auth.rs", comment: cComment, string: dq, uses: { "let r = \($0)() + \($1)();" }),
    Language(name: "Python", path: "auth.py", comment: hashComment, string: dq, uses: { "r = \($0)() + \($1)()" }),
    Language(name: "Ruby", path: "auth.rb", comment: hashComment, string: sq, uses: { "r = \($0)() + \($1)()" }),
    Language(name: "PHP", path: "auth.php", comment: cComment, string: sq, uses: { "$r = \($0)() + \($1)();" }, head: "<?php"),
    Language(name: "Solidity", path: "contracts/Vault.sol", comment: cComment, string: dq, uses: { "uint r = \($0)() + \($1)();" }),
    Language(name: "Kotlin", path: "Auth.kt", comment: cComment, string: dq, uses: { "val r = \($0)() + \($1)()" }),
    Language(name: "Swift", path: "Auth.swift", comment: cComment, string: dq, uses: { "let r = \($0)() + \($1)()" }),
    Language(name: "Bash", path: "deploy.sh", comment: hashComment, string: dq, uses: { "r=$(\($0); \($1))" }),
    Language(name: "PowerShell", path: "deploy.ps1", comment: hashComment, string: dq, uses: { "$r = \($0) + \($1)" }),
    Language(name: "batch", path: "deploy.bat", comment: { "REM \($0)" }, string: dq, uses: { "call :\($0) & call :\($1)" }),
    Language(name: "Vue", path: "src/Login.vue", comment: { "<!-- \($0) -->" }, string: dq, uses: { "<b>{{ \($0)() + \($1)() }}</b>" }),
    Language(name: "Svelte", path: "src/Login.svelte", comment: cComment, string: dq, uses: { "let r = \($0)() + \($1)();" }),
    Language(name: "CI YAML", path: ".github/workflows/release.yml", comment: hashComment, string: dq, uses: { "run: \($0) && \($1)" }),
    Language(name: "SQL", path: "schema.sql", comment: { "-- \($0)" }, string: sq, uses: { "SELECT \($0), \($1) FROM users;" }),
    Language(name: "Lua", path: "auth.lua", comment: { "-- \($0)" }, string: dq, uses: { "local r = \($0)() + \($1)()" }),
    Language(name: "Dockerfile", path: "Dockerfile", comment: hashComment, string: dq, uses: { "RUN \($0) && \($1)" }),
    Language(name: "Makefile", path: "Makefile", comment: hashComment, string: dq, uses: { "all: \($0) \($1)" }),
    Language(name: "a script named by its #! line", path: "tools/release", comment: hashComment, string: dq,
             uses: { "r=$(\($0); \($1))" }, head: "#!/usr/bin/env bash"),
]

/// One attack: the line it adds, the rule that must flag it, and the column it must be flagged at.
private struct Attack: Sendable {
    var name: String
    var line: @Sendable (Language) -> String
    var rule: String
    /// The 1-based column of the finding within the attack's line.
    var column: @Sendable (Language) -> Int
}

private func column(of marker: String, in text: String) -> Int {
    text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: text.unicodeScalars.firstIndex(of: marker.unicodeScalars.first!)!) + 1
}

private let attacks: [Attack] = [
    // Commenting-out / early return: an override opened in a comment is never closed, so the
    // code after it on the line is shown reversed, inside what looks like the comment.
    Attack(name: "early return", line: { $0.comment("\(rlo) } \(lri)if (isAdmin)\(pdi) \(lri) begin admins only") },
           rule: "bidi-unterminated", column: { column(of: rlo, in: $0.comment("\(rlo) } \(lri)if (isAdmin)\(pdi) \(lri) begin admins only")) }),
    // Stretched string: isolates inside a string make its end look like a comment.
    Attack(name: "stretched string", line: { "x = " + $0.string("user\(rlo) \(lri)// check if admin\(pdi) \(lri)") },
           rule: "bidi-unterminated", column: { column(of: rlo, in: "x = " + $0.string("user\(rlo) \(lri)// check if admin\(pdi) \(lri)")) }),
    // Homoglyph function: a second function whose name has a Cyrillic Н.
    Attack(name: "homoglyph", line: { $0.uses("sayHello", "say\u{041D}ello") },
           rule: "confusable-identifiers", column: { column(of: "\u{041D}", in: $0.uses("sayHello", "say\u{041D}ello")) - 3 }),
    // Invisible function: a zero-width space inside a name.
    Attack(name: "invisible character", line: { $0.uses("isAdmin", "is\u{200B}Admin") },
           rule: "invisible-character", column: { column(of: "\u{200B}", in: $0.uses("isAdmin", "is\u{200B}Admin")) }),
    // Two spellings of one name: NFC é and NFD e + U+0301 are two variables to C, JS and Go.
    Attack(name: "normalization", line: { $0.uses("caf\u{E9}", "cafe\u{301}") },
           rule: "identifier-normalization", column: { column(of: "\u{301}", in: $0.uses("caf\u{E9}", "cafe\u{301}")) - 4 }),
]

private func scan(_ path: String, _ text: String) -> [ScanFinding] {
    let bytes = Array(text.utf8)
    return scanContent(path: Array(path.utf8), kind: .file, size: UInt64(bytes.count), content: bytes, options: ScanOptions())
}

private func file(_ language: Language, _ lines: [String]) -> String {
    ([language.head].filter { !$0.isEmpty } + ["setup()"] + lines + ["done()", ""]).joined(separator: "\n")
}

@Suite struct TrojanSourceTests {
    @Test func everyAttackInEveryLanguageIsFlaggedOnceAtItsPlace() {
        #expect(languages.count >= 12)
        var failures: [String] = []
        for language in languages {
            for attack in attacks {
                let text = file(language, [attack.line(language)])
                let lineNumber = (language.head.isEmpty ? 0 : 1) + 2
                let found = scan(language.path, text)
                let flagged = found.filter { $0.severity == .error }
                let expected = "\(attack.rule) \(lineNumber):\(attack.column(language))"
                let got = flagged.map { "\($0.rule) \($0.line ?? 0):\($0.column ?? 0)" }
                if got != [expected] || found.count != 1 {
                    failures.append("\(language.name) (\(language.path)), \(attack.name): expected [\(expected)], got \(found.map { "\($0.rule) \($0.line ?? 0):\($0.column ?? 0)" })")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func balancedRightToLeftProseIsNotFlagged() {
        var failures: [String] = []
        for language in languages {
            let lines = [
                language.comment("שלום עולם: a greeting, and \(rle)نص عربي\(pdf) quoted"),
                "t = " + language.string("\(rli)مرحبا بالعالم\(pdi) and \(rle)עברית\(pdf)"),
                language.comment("\(rli)تعليق\(pdi)"),
            ]
            let found = scan(language.path, file(language, lines))
            if !found.isEmpty { failures.append("\(language.name): \(found.map { "\($0.rule) \($0.line ?? 0):\($0.column ?? 0)" })") }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func prosAndDataAreNotHeldToIdentifierRules() {
        // A list of look-alikes in documentation or a translation is not code.
        for path in ["docs/homoglyphs.md", "po/ru.po", "NEWS.txt", "data/names.csv", "README", "i18n/ru.properties", "t/sample.mbox"] {
            #expect(scan(path, "sayHello say\u{041D}ello caf\u{E9} cafe\u{301}\n").isEmpty, "\(path)")
        }
        // Invisible characters in prose are text (an emoji's variation selector, a zero-width
        // space in a changelog); in code they are errors, in prose only --strict lists them.
        #expect(scan("README.md", "\u{26A0}\u{FE0F} **NOTICE** values\u{200B}\u{200B} from\n").isEmpty)
        var strict = ScanOptions()
        strict.strict = true
        let bytes = Array("values\u{200B} from\n".utf8)
        #expect(scanContent(path: Array("NEWS.md".utf8), kind: .file, size: UInt64(bytes.count), content: bytes, options: strict)
                    .map { "\($0.rule) \($0.severity)" } == ["invisible-character error"])
        // A single letter from another script beside its Latin twin: a warning, not an error.
        let single = scan("t/t9902.sh", "test_completion dir/\u{0421} && C=1\n")
        #expect(single.map { "\($0.rule) \($0.severity)" } == ["confusable-identifiers warning"])
        // The same words in a file with no extension that says it is code are checked.
        #expect(scan("tools/check", "#!/bin/sh\nsayHello; say\u{041D}ello\n").map(\.rule) == ["confusable-identifiers"])
        #expect(scan("Jenkinsfile", "sayHello(); say\u{041D}ello() // x\n").map(\.rule) == ["confusable-identifiers"])
    }

    @Test func languageOfAFile() {
        func language(_ path: String, _ head: String = "") -> (Bool, Bool) {
            let l = FileLanguage(path: Array(path.utf8), head: ArraySlice(head.utf8))
            return (l.isCode, l.hashComments)
        }
        #expect(language("a/b.csx") == (true, false))
        #expect(language("a/b.sol") == (true, false))
        #expect(language("a/b.unknownext") == (true, false))
        #expect(language("a/b.md") == (false, false))
        #expect(language("a/Makefile") == (true, true))
        #expect(language("a/Dockerfile") == (true, true))
        #expect(language("a/Jenkinsfile") == (true, false))
        #expect(language("a/run", "#!/usr/bin/env -S python3 -u\n") == (true, true))
        #expect(language("a/run", "#!/usr/bin/node\n") == (true, false))
        #expect(language("a/NOTES") == (false, false))
        #expect(language(".github/workflows/ci.yml") == (true, true))
    }
}

@Suite struct BinaryDetectionTests {
    /// A zlib stream with one stored block: what git writes for a loose object, with the text
    /// visible in it. No byte of it is NUL, so git's rule alone calls it text; lexed as text,
    /// it holds a bidi override.
    private func zlibStored(_ data: [UInt8]) -> [UInt8] {
        let length = UInt16(data.count)
        return [0x78, 0x01, 0x01, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)] + data + [0x9A, 0x11, 0x22, 0x33]
    }

    @Test func compressedContentIsNeverLexed() {
        let attack = Array(("/*\u{202E} } if (admin) */ " + String(repeating: "x", count: 300)).utf8)
        let cases: [(String, [UInt8])] = [
            ("objects/ab/cdef", zlibStored(attack)),
            ("data/x.gz", [0x1F, 0x8B, 0x08, 0x08, 0xC7, 0xA1, 0x5E, 0x65, 0x02, 0x03] + Array("\u{202E}\u{200B}".utf8)),
            ("data/x.zst", [0x28, 0xB5, 0x2F, 0xFD, 0xC3] + Array("\u{202E}".utf8)),
            ("data/x.bz2", Array("BZh91AY&SY".utf8) + [0xB3, 0x9F] + Array("\u{202E}".utf8)),
        ]
        for (name, content) in cases {
            #expect(!content.contains(0), "\(name)")
            #expect(scan(name, content).isEmpty, "\(name)")
        }
    }

    @Test func textThatStartsLikeASignatureIsStillText() {
        // `x^` is a valid zlib header, "PACK" and "BZh" start words: UTF-8 after them keeps them text.
        for text in ["x^2 + y^2 /*\u{202E} */\n", "PACKAGE = x /*\u{202E} */\n", "BZh9 /*\u{202E} */\n"] {
            #expect(scan("f.c", Array(text.utf8)).map(\.rule) == ["bidi-unterminated"], "\(text)")
        }
    }

    @Test func gitsRuleANulInTheFirst8000Bytes() {
        let late = Array(String(repeating: "a\n", count: 4000).utf8) + [0] + Array("\u{202E}\n".utf8)
        #expect(scan("late.c", late).map(\.rule) == ["bidi-unterminated"])
        let early = Array(String(repeating: "a\n", count: 3999).utf8) + [0x61, 0] + Array("\u{202E}\n".utf8)
        #expect(scan("early.c", early).isEmpty)
    }

    private func scan(_ path: String, _ bytes: [UInt8]) -> [ScanFinding] {
        scanContent(path: Array(path.utf8), kind: .file, size: UInt64(bytes.count), content: bytes, options: ScanOptions())
    }
}

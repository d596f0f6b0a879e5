import Foundation
import GlassboxCrypto
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

    @Test func compressedDataIsNotReadAsText() {
        // Random bytes, as compressed data is, decode now and then as a bidi control; only
        // stretches of real text (a whole line, or 24 bytes of UTF-8) are scanned, so none is
        // reported. Seeded, so every run tests the same bytes.
        var state: UInt64 = 7
        var random = [UInt8](repeating: 0, count: 2 << 20)
        for index in random.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            random[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        let cases: [(String, [UInt8])] = [
            ("data/x.gz", [0x1F, 0x8B, 0x08, 0x08, 0xC7, 0xA1, 0x5E, 0x65, 0x02, 0x03] + Array("\u{202E}\u{200B}".utf8)),
            ("data/x.zst", [0x28, 0xB5, 0x2F, 0xFD, 0xC3] + Array("\u{202E}".utf8)),
            ("data/x.bz2", Array("BZh91AY&SY".utf8) + [0xB3, 0x9F] + Array("\u{202E}".utf8)),
            ("data/random.gz", [0x1F, 0x8B] + random),
            ("data/random.bin", random),
        ]
        for (name, content) in cases {
            #expect(scan(name, content).filter { $0.rule != "binary-large" }.isEmpty, "\(name)")
        }
    }

    @Test func textInsideABinaryLookingFileIsScanned() {
        // A zlib stream with a stored block holds its text as it is: any interpreter that reads
        // the file reads that text.
        let attack = Array(("/*\u{202E} } if (admin) */ " + String(repeating: "x", count: 300)).utf8)
        #expect(scan("objects/ab/cdef", zlibStored(attack)).map(\.rule) == ["bidi-unterminated"])
    }

    @Test func textThatStartsLikeASignatureIsStillText() {
        // `x^` is a valid zlib header, "PACK" and "BZh" start words: UTF-8 after them keeps them text.
        for text in ["x^2 + y^2 /*\u{202E} */\n", "PACKAGE = x /*\u{202E} */\n", "BZh9 /*\u{202E} */\n"] {
            #expect(scan("f.c", Array(text.utf8)).map(\.rule) == ["bidi-unterminated"], "\(text)")
        }
    }

    @Test func aNulNeverHidesASourceFile() {
        // Git's rule (a NUL in the first 8,000 bytes) made early.c binary and its attack unread;
        // gcc reads past the NUL. The NUL is now a finding of its own, wherever it is.
        let late = Array(String(repeating: "a\n", count: 4000).utf8) + [0] + Array("\u{202E}\n".utf8)
        #expect(scan("late.c", late).map(\.rule) == ["control-character", "bidi-unterminated"])
        let early = Array(String(repeating: "a\n", count: 3999).utf8) + [0x61, 0] + Array("\u{202E}\n".utf8)
        let found = scan("early.c", early)
        #expect(found.map(\.rule) == ["control-character", "bidi-unterminated"])
        #expect(found.first?.line == 4000 && found.first?.column == 2)
        #expect(found.first?.codePoints == ["U+0000"])
    }

    private func scan(_ path: String, _ bytes: [UInt8]) -> [ScanFinding] {
        scanContent(path: Array(path.utf8), kind: .file, size: UInt64(bytes.count), content: bytes, options: ScanOptions())
    }
}

/// What a compiler or interpreter reads as source is scanned as source, whatever its first
/// bytes: each of these hid its attack from a scan that skipped binary-looking files.
@Suite struct SourceThatLooksBinaryTests {
    private let attack = "x = 1 # \u{202E} } if (admin) \u{2066} begin admins only\n"

    private func scan(_ path: String, _ bytes: [UInt8]) -> [ScanFinding] {
        scanContent(path: Array(path.utf8), kind: .file, size: UInt64(bytes.count), content: bytes, options: ScanOptions())
    }

    private func encoded(_ text: String, _ encoding: String) -> [UInt8] {
        let units = Array(("\u{FEFF}" + text).utf16)
        let scalars = ("\u{FEFF}" + text).unicodeScalars.map(\.value)
        switch encoding {
        case "utf-16le": return units.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        case "utf-16be": return units.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        case "utf-32le": return scalars.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        default: return scalars.flatMap { v in (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        }
    }

    @Test func aNulInACCommentDoesNotHideTheFile() {
        let source = Array("int main(void) {\n    int admin = 0; /* a NUL: ".utf8) + [0] + Array(" */\n".utf8)
            + Array("    /*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} begin admins only */\n    return admin;\n}\n".utf8)
        let found = scan("auth.c", source)
        #expect(found.map(\.rule) == ["control-character", "bidi-unterminated"], "\(found)")
        #expect(found.map(\.line) == [2, 3])
        #expect(found.first?.column == 30)
        #expect(found.first?.message.contains("NUL") == true)
    }

    @Test(arguments: ["utf-16le", "utf-16be", "utf-32le", "utf-32be"])
    func aFileWithAByteOrderMarkIsDecoded(encoding: String) {
        for path in ["Program.cs", "deploy.ps1"] {
            let found = scan(path, encoded("// header\n" + attack, encoding))
            #expect(found.map(\.rule) == ["bidi-unterminated"], "\(path) \(encoding): \(found)")
            #expect(found.first?.line == 2 && found.first?.column == 9, "\(path) \(encoding)")
            #expect(found.first?.codePoints == ["U+202E RIGHT-TO-LEFT OVERRIDE", "U+2066 LEFT-TO-RIGHT ISOLATE"])
            // The digest names the decoded line, as UTF-8.
            #expect(found.first?.lineDigest == hexDigest(SHA256.hash(Array(attack.dropLast().utf8))))
        }
        // A lone bidi control is reported in strict mode, and a zero-width space in code always.
        #expect(scan("a.cs", encoded("int a\u{200B}b = 1;\n", encoding)).map(\.rule) == ["invisible-character"])
    }

    @Test func aScriptAfterABinaryHeaderIsScanned() {
        // bash runs the lines after the header's; php runs what follows `<?php` anywhere.
        let headers: [(String, [UInt8])] = [
            ("logo.gif", Array("GIF89a".utf8) + [0x0A, 0x0A, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFE, 0xFD, 0x0A]),
            ("doc.pdf", Array("%PDF-1.5\n%".utf8) + [0xE2, 0xE3, 0xCF, 0xD3, 0x0A]),
            ("photo.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0xFE, 0x00, 0x0A]),
            ("icon.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x0A]),
        ]
        for (name, header) in headers {
            for payload in [attack, "<?php $x = 1; // \u{202E} } if ($admin) \u{2066} ?>\n"] {
                let found = scan(name, header + Array(payload.utf8) + [0x00, 0xFF, 0x0A])
                #expect(found.map(\.rule) == ["bidi-unterminated"], "\(name): \(found)")
                #expect(found.first?.line == header.filter { $0 == 0x0A }.count + 1, "\(name)")
            }
        }
        // Junk right after the header on the same line, and an attack line of a few bytes.
        let tight = Array("GIF89a".utf8) + [0xFF, 0xFE] + Array("echo ok; # \u{202E} } if admin \u{2066}\n".utf8)
        #expect(scan("tight.gif", tight).map(\.rule) == ["bidi-unterminated"])
        let short = Array("GIF89a".utf8) + [0xFF, 0x0A] + Array("a\u{202E}\n".utf8)
        #expect(scan("short.gif", short).map(\.rule) == ["bidi-unterminated"])
    }

    @Test func aNulInAScriptIsAFinding() {
        // No extension: the `#!` line makes it source, and the NUL does not hide the attack.
        let script = Array("#!/bin/sh\necho a".utf8) + [0] + Array("\n".utf8) + Array(attack.utf8)
        for name in ["tools/run", "tools/run.dat"] {
            #expect(scan(name, script).map(\.rule) == ["control-character", "bidi-unterminated"], "\(name)")
        }
        // Other control characters a terminal acts on and a reader never sees: ESC, backspace.
        let escape = Array("#!/usr/bin/env bash\necho ok ".utf8) + [0x1B] + Array("[8m hidden".utf8) + [0x08, 0x08, 0x0A]
        let found = scan("tools/quiet", escape)
        #expect(found.map(\.rule) == ["control-character", "control-character"], "\(found)")
        #expect(found.last?.message.hasPrefix("2 control characters") == true)
        // Tab, form feed and CRLF are ordinary.
        #expect(scan("a.c", Array("int a;\t\u{0C}\r\n".utf8)).isEmpty)
        // Build files without an extension, and autoconf templates, are source by name.
        for name in ["Makefile", "configure", "Makefile.in", "config.h.in", "src/CMakeLists.txt"] {
            #expect(scan(name, Array("x".utf8) + [0] + Array("\n".utf8)).map(\.rule) == ["control-character"], "\(name)")
        }
        // Text that is neither source nor binary keeps its control characters (terminal logs).
        #expect(scan("expected.txt", Array("\u{1B}[31mred\u{1B}[0m\n".utf8)).isEmpty)
    }
}

import Foundation
import Testing

/// Writes `files` (path → bytes) and `links` (path → target) under a new directory.
private func tree(_ files: KeyValuePairs<String, [UInt8]>, links: [String: String] = [:]) throws -> URL {
    let root = try temporaryDirectory("scan")
    let fm = FileManager.default
    for (path, bytes) in files {
        let url = root.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }
    for (path, target) in links {
        let url = root.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }
    return root
}

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

/// `glassbox scan --json` as (rule, path) pairs, plus the raw findings.
private func scan(_ arguments: [String]) throws -> (status: Int32, pairs: [String], findings: [[String: Any]]) {
    let result = try run(productsDirectory.appendingPathComponent("glassbox").path, ["scan"] + arguments + ["--json"])
    let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
    #expect(object["mediaType"] as? String == "application/vnd.glassbox.scan.v1+json")
    let findings = object["findings"] as! [[String: Any]]
    return (result.status, findings.map { "\($0["rule"]!) \($0["path"]!)" }, findings)
}

@Suite struct ScanTests {
    @Test func sourceThatLooksBinaryIsScannedAsTheToolsReadIt() throws {
        // One NUL in a comment: git's rule calls the file binary, gcc compiles it (and, with the
        // attack, the hidden branch); a script after a GIF header: bash runs its lines.
        let cSource = text("#include <stdio.h>\nint main(void) {\n    int admin = 0; /* ") + [0]
            + text(" */\n    /*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} begin admins only */\n        puts(\"hidden branch\");\n    return 0;\n}\n")
        let script = text("GIF89a") + [0x0A, 0x0A, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFE, 0x0A]
            + text("echo payload # \u{202E} } if admin \u{2066}\n")
        let wide: [UInt8] = [0xFF, 0xFE] + "class A { string s = \"user\u{202E} \u{2066}// check\u{2069} \u{2066}\"; }\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let root = try tree(["auth.c": cSource, "logo.gif": script, "Program.cs": wide])

        let compiled = root.appendingPathComponent("auth")
        let gcc = try run("gcc", ["-o", compiled.path, root.appendingPathComponent("auth.c").path])
        #expect(gcc.status == 0, "\(gcc.stderr)")
        #expect(try run(compiled.path, []).stdout == "hidden branch\n")
        try FileManager.default.removeItem(at: compiled)
        let bash = try run("bash", [root.appendingPathComponent("logo.gif").path])
        #expect(bash.stdout == "payload\n", "\(bash.stderr)")

        let result = try scan(["--dir", root.path])
        #expect(result.status == 1)
        #expect(result.pairs.sorted() == ["bidi-unterminated Program.cs", "bidi-unterminated auth.c", "bidi-unterminated logo.gif",
                                          "control-character auth.c"], "\(result.pairs)")
        let nul = try #require(result.findings.first { $0["rule"] as? String == "control-character" })
        #expect(nul["line"] as? Int == 3 && nul["column"] as? Int == 23)
        #expect(result.findings.first { $0["path"] as? String == "logo.gif" }?["line"] as? Int == 4)
    }

    @Test func bidiControlsUnterminatedAreErrorsBalancedOnesAreNot() throws {
        let root = try tree([
            // Trojan Source: the RLO in the comment is never closed, so the line reads differently.
            "trojan.c": text("int admin = 0;\n/*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} begin admins only */\nreturn 0;\n"),
            "string.c": text("char *s = \"user\u{202E} \u{2066}// check\u{2069} \u{2066}\";\n"),
            // Balanced right-to-left prose and a balanced isolate in a string: no finding by default.
            "hebrew.c": text("// שלום עולם: a greeting\nchar *t = \"\u{2067}مرحبا\u{2069}\";\nint x = 1; // \u{202B}نص\u{202C}\n"),
        ])
        let result = try scan(["--dir", root.path])
        #expect(result.pairs.filter { $0.hasPrefix("bidi") } == ["bidi-unterminated string.c", "bidi-unterminated trojan.c"], "one finding per place: not again at the end of the line")
        #expect(result.status == 1)
        let trojan = result.findings.first { $0["path"] as? String == "trojan.c" }!
        #expect(trojan["line"] as? Int == 2)
        #expect(trojan["column"] as? Int == 3)
        #expect((trojan["codePoints"] as? [String])?.first == "U+202E RIGHT-TO-LEFT OVERRIDE")

        let strict = try scan(["--dir", root.path, "--strict"])
        #expect(strict.pairs.contains("bidi-control hebrew.c"))
    }

    @Test func invisibleCharactersInCodeButNotEmojiInComments() throws {
        let root = try tree([
            "zw.c": text("int a\u{200B}b = 1;\nint c = a\u{2060}b;\n"),
            "bom.c": [0xEF, 0xBB, 0xBF] + text("int ok;\nint x\u{FEFF} = 2;\n"),
            "emoji.c": text("// family: 👨\u{200D}👩\u{200D}👧 and ❤\u{FE0F}\nint fine = 1;\n"),
            "tags.py": text("x = 1\u{E0041}\u{E0042}\n"),
            "hangul.c": text("int \u{3164} = 3;\n"),
        ])
        let result = try scan(["--dir", root.path])
        let rules = result.pairs.filter { $0.hasPrefix("invisible") || $0.hasPrefix("misplaced") }
        #expect(rules == ["misplaced-bom bom.c", "invisible-character hangul.c", "invisible-character tags.py",
                          "invisible-character zw.c", "invisible-character zw.c"], "two adjacent tags are one finding")
        let names = result.findings.flatMap { ($0["codePoints"] as? [String]) ?? [] }
        #expect(names.contains("U+200B ZERO WIDTH SPACE"))
        #expect(names.contains("U+2060 WORD JOINER"))
        #expect(names.contains("U+3164 HANGUL FILLER"))
        #expect(names.contains("U+E0041 TAG LATIN CAPITAL LETTER A"))
    }

    @Test func confusableAndMixedScriptIdentifiers() throws {
        let root = try tree([
            "pay.c": text("int p\u{0430}ypal = 1;\nint paypal = 2;\n"),          // Cyrillic а
            "ok.c": text("int paypal = 1; int Paypal = 2; int l1 = 3; int ll = 4;\n"),
            "jp.c": text("int 変数ひらがなカタカナ = 1; int αβγ = 2;\n"),
        ])
        let result = try scan(["--dir", root.path])
        #expect(result.pairs.filter { !$0.hasPrefix("long") } == ["confusable-identifiers pay.c"], "one finding per identifier: the look-alike, not also mixed scripts")
        let confusable = result.findings.first { $0["rule"] as? String == "confusable-identifiers" }!
        #expect((confusable["message"] as! String).contains("'paypal'"))
        #expect((confusable["codePoints"] as! [String]) == ["U+0430 CYRILLIC SMALL LETTER A"])
    }

    @Test func gitAttributesThatChangeBytes() throws {
        let root = try tree([
            ".gitattributes": text("*.c filter=lfs-like\n*.txt text eol=crlf\nsecret.h export-ignore\n*.png binary\n# comment\n"),
            "src/a.c": text("int a;\n"), "notes.txt": text("x\n"), "src/secret.h": text("int s;\n"),
            "logo.png": [0x89, 0x50], "keep.h": text("int k;\n"),
        ])
        let result = try scan(["--dir", root.path])
        // Read as files: one finding per line that would change a checkout, with its paths.
        let attributes = result.findings.filter { ($0["rule"] as! String).hasPrefix("gitattributes") }
        #expect(attributes.map { "\($0["rule"]!) \($0["path"]!):\($0["line"]!)" } == [
            "gitattributes-filter .gitattributes:1", "gitattributes-eol .gitattributes:2", "gitattributes-export .gitattributes:3",
        ])
        #expect(attributes.map { $0["paths"] as? [String] ?? [] } == [["src/a.c"], ["notes.txt"], ["src/secret.h"]])
    }

    @Test func reversedRangeInAnAttributePatternIsNotACrash() throws {
        // Before: the scan stopped with a runtime trap (exit 132) on `[z-a]`.
        let root = try tree([".gitattributes": text("[z-a] eol=crlf\n"), "z": text("z\n"), "a": text("a\n"), "m": text("m\n")])
        let result = try scan(["--dir", root.path])
        #expect(result.status == 0)
        #expect(result.pairs == ["gitattributes-eol .gitattributes"])
        #expect(result.findings.first?["paths"] as? [String] == ["z"])
    }

    @Test func starsInAnAttributePatternDoNotBacktrack() throws {
        // Before: 11 stars against a 40-byte name backtracked for minutes.
        let long = String(repeating: "a", count: 40)
        let root = try tree([".gitattributes": text("*a*a*a*a*a*a*a*a*a*a*a*b eol=crlf\n"), long: text("x\n"), "aab": text("x\n"),
                             "d/" + long + "b": text("x\n")])
        let result = try scan(["--dir", root.path])
        #expect(result.pairs == ["gitattributes-eol .gitattributes"])
        #expect(result.findings.first?["paths"] as? [String] == ["d/\(long)b"])
    }

    @Test func anAttributesFileTooLargeToCheckIsAnError() throws {
        // Before: any size was read whole. Now past 1 MiB it is not read, and the scan says so.
        let padding = String(repeating: "# padding\n", count: 110_000)
        let root = try tree(["big/.gitattributes": text(padding + "*.c filter=x\n"), "big/a.c": text("int a;\n"),
                             ".gitattributes": text("*.h eol=crlf\n"), "b.h": text("int b;\n")])
        let result = try scan(["--dir", root.path])
        #expect(result.status == 1)
        #expect(result.pairs == ["gitattributes-eol .gitattributes", "gitattributes-unchecked big/.gitattributes"])
    }

    @Test func symlinksOutOfTheTree() throws {
        let root = try tree(["real.txt": text("r\n"), "dir/x.txt": text("x\n")],
                            links: ["abs": "/etc/passwd", "escape": "../../outside", "dangling": "nothere",
                                    "chain": "good", "good": "real.txt", "dir/up": "../real.txt", "todir": "dir"])
        let result = try scan(["--dir", root.path])
        #expect(result.pairs.filter { $0.hasPrefix("symlink") } == [
            "symlink-absolute abs", "symlink-chain chain", "symlink-dangling dangling", "symlink-escapes escape",
        ])
    }

    @Test func pathsThatCollideOrMislead() throws {
        let root = try tree([
            "Readme.md": text("a\n"), "README.md": text("b\n"),
            "caf\u{00E9}.txt": text("nfc\n"), "cafe\u{0301}.txt": text("nfd\n"),
            "CON.txt": text("c\n"), "trailing.": text("t\n"), ".GIT/config": text("[core]\n"), "git~1": text("g\n"),
            "tab\tname": text("t\n"), "normal/file.txt": text("n\n"),
        ])
        let result = try scan(["--dir", root.path])
        let pairs = result.pairs.filter { $0.hasPrefix("path") }
        #expect(pairs.contains("path-case-collision README.md") && pairs.contains("path-case-collision Readme.md"))
        #expect(pairs.filter { $0.hasPrefix("path-normalization-collision") }.count == 2)
        #expect(pairs.contains("path-windows-reserved CON.txt"))
        #expect(pairs.contains("path-trailing-dot-space trailing."))
        #expect(pairs.contains("path-git-lookalike .GIT") && pairs.contains("path-git-lookalike git~1"))
        #expect(pairs.contains("path-control-character tab\\tname"))
        #expect(!pairs.contains { $0.hasSuffix("normal/file.txt") || $0.hasSuffix(" normal") })
    }

    @Test func opaqueContent() throws {
        var big = [UInt8](repeating: 7, count: 2 << 20)
        big[100] = 0
        let root = try tree([
            "tool.o": [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0, 0, 0],
            "setup.exe": [0x4D, 0x5A, 0x90, 0x00, 0x03, 0x00],
            "model.bin": text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12345\n"),
            "blob.dat": big,
            "app.min.js": text(String(repeating: "var a=1;", count: 400) + "\n"),
            "small.bin": [0, 1, 2, 3], "MZ.txt": text("MZ is a text file starting with MZ\n"),
        ])
        let result = try scan(["--dir", root.path])
        #expect(result.pairs == ["long-lines app.min.js", "binary-large blob.dat", "lfs-pointer model.bin",
                                 "binary-executable setup.exe", "binary-executable tool.o"])
    }

    @Test func submodulesWhoseCommitIsMissing() throws {
        let result = try scan(["--repo", sample.path, "--rev", "v1.1.0"])
        #expect(result.pairs.contains("submodule-missing vendor/lib"))
        #expect(result.pairs.contains("symlink-escapes docs/outside-link"))
        // A submodule pinned to a commit the repository has is reviewable.
        let dir = try temporaryDirectory()
        for args in [["init", "-q", "-b", "main", "."], ["commit", "-q", "--allow-empty", "-m", "one"]] {
            #expect(try run("git", ["-c", "user.name=T", "-c", "user.email=t@e"] + args, in: dir).status == 0)
        }
        let head = try run("git", ["rev-parse", "HEAD"], in: dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try run("git", ["update-index", "--add", "--cacheinfo", "160000,\(head),self"], in: dir).status == 0)
        #expect(try run("git", ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-q", "-m", "two"], in: dir).status == 0)
        #expect(try scan(["--repo", dir.path]).pairs.isEmpty)
    }

    @Test func sarifReadsBackInSarifTools() throws {
        let root = try tree(["trojan.c": text("/*\u{202E} x */\n"), "a b/ok.c": text("int ok;\n")], links: ["abs": "/etc/x"])
        let out = try run(productsDirectory.appendingPathComponent("glassbox").path, ["scan", "--dir", root.path, "--sarif"])
        #expect(out.status == 1)
        let sarif = try JSONSerialization.jsonObject(with: out.stdoutBytes) as! [String: Any]
        #expect(sarif["version"] as? String == "2.1.0")
        let file = root.appendingPathComponent("../scan.sarif").standardizedFileURL
        try out.stdoutBytes.write(to: file)
        let tool = try #require(["sarif"].first { (try? run("which", [$0]).status) == 0 },
                                "sarif-tools (PyPI) is needed; Scripts/test installs it")
        let summary = try run(tool, ["summary", file.path])
        #expect(summary.status == 0, "\(summary.stderr)")
        #expect(summary.stdout.contains("error: 2"), "\(summary.stdout)")
    }

    @Test func theProjectsOwnRepositoryHasNoErrors() throws {
        // The fuzz seeds hold attacks on purpose; Tests/scan-exceptions accepts each one.
        let result = try scan(["--repo", repositoryRoot.path, "--rev", "HEAD",
                               "--exceptions", repositoryRoot.appendingPathComponent("Tests/scan-exceptions").path])
        let errors = result.findings.filter { $0["severity"] as? String == "error" }
        #expect(errors.isEmpty, "\(errors)")
        #expect(result.status == 0)
    }

    @Test func verifyReleaseReportsScanFindingsAndCanFailOnThem() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        try Data("int x = 1; /*\u{202E} hidden */\n".utf8).write(to: tree.appendingPathComponent("src/auth.c"))
        // The tree differs (modified) anyway, so the verdict fails whatever the scan says; what
        // changes is whether the scan finding is one of the failures (ScanVerdictTests has a
        // tree that differs in nothing else).
        let failing = try release.verifyDirectory(tree)
        #expect(failing.stdout.contains("✗ bidi-unterminated src/auth.c:1:14"))
        let notCounted = try release.verifyDirectory(tree, extra: ["--fail-on", "none"])
        #expect(notCounted.stdout.contains("· bidi-unterminated src/auth.c:1:14"))
        let skipped = try release.verifyDirectory(tree, extra: ["--skip-scan-unsafe"])
        #expect(skipped.stdout.contains("scan-skipped"))
    }

    @Test func aHugeSparseTextFileIsScannedInBoundedMemory() throws {
        // 512 MiB of "text": 8 KiB of lines (past git's 8,000-byte binary probe, with a
        // character beyond ASCII so every byte goes through the lexer), then a hole of zeros
        // that costs no disk. Before, the scan held the whole file: over 600 MB at this size,
        // 4.2 GB at 3 GiB. Now memory does not follow the file's size.
        let root = try temporaryDirectory("sparse")
        let file = root.appendingPathComponent("huge.txt")
        try Data(String(repeating: "caf\u{00E9} au lait, one line of text\n", count: 300).utf8.prefix(8192)).write(to: file)
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: 512 << 20)
        try handle.close()
        let time = try #require(["/usr/bin/time"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                "GNU time is needed; Scripts/test installs it")
        func peakKiB(_ result: Result) -> Int? {
            result.stderr.split(separator: "\n").first { $0.contains("Maximum resident set size") }
                .flatMap { $0.split(separator: ":").last }.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        let scanned = try run(time, ["-v", productsDirectory.appendingPathComponent("glassbox").path, "scan", "--dir", root.path, "--json"])
        #expect(scanned.status == 0, "\(scanned.stderr)")
        #expect(scanned.stdout.contains("\"long-lines\""))
        let scanPeak = try #require(peakKiB(scanned))
        #expect(scanPeak < 100 * 1024, "peak RSS \(scanPeak) KiB")

        // verify-release scans the tree it hashes, in the same pass.
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        try FileManager.default.moveItem(at: file, to: tree.appendingPathComponent("huge.txt"))
        let verified = try run(time, ["-v", productsDirectory.appendingPathComponent("verify-release").path, "--manifest", release.manifest,
                                      "--trust", release.trust, "--dir", tree.path, "--artifacts", release.artifacts.path])
        #expect(verified.status == 1)   // an extra file: the tree is not the release
        #expect(verified.stdout.contains("huge.txt"))
        let verifyPeak = try #require(peakKiB(verified))
        #expect(verifyPeak < 100 * 1024, "peak RSS \(verifyPeak) KiB")
    }

    @Test func verifyReleaseSurvivesHostileAttributePatterns() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        try Data("[z-a] text\n*a*a*a*a*a*a*a*a*a*a*a*b text\n".utf8).write(to: tree.appendingPathComponent(".gitattributes"))
        try Data("x\n".utf8).write(to: tree.appendingPathComponent(String(repeating: "a", count: 40)))
        let result = try release.verifyDirectory(tree)
        #expect(result.status == 1, "\(result.stderr)")   // the tree differs from the manifest
        #expect(result.stdout.contains(".gitattributes"))
    }
}

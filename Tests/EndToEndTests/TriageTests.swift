import Foundation
import Testing

/// Writes `files` (path → text) and `links` (path → target) under `root`.
private func write(_ root: URL, _ files: [String: String], links: [String: String] = [:]) throws {
    let fm = FileManager.default
    for (path, text) in files {
        let url = root.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
    for (path, target) in links {
        let url = root.appendingPathComponent(path)
        try? fm.removeItem(at: url)
        try fm.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }
}

/// `glassbox scan ARGS --json`: status, findings and the whole object.
private func scanJSON(_ arguments: [String]) throws -> (status: Int32, findings: [[String: Any]], object: [String: Any]) {
    let result = try glassbox(["scan"] + arguments + ["--json"])
    let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
    return (result.status, object["findings"] as! [[String: Any]], object)
}

private func glassbox(_ arguments: [String]) throws -> Result {
    try run(productsDirectory.appendingPathComponent("glassbox").path, arguments)
}

private let trojan = "int admin = 0;\n/*\u{202E} } \u{2066}if (admin)\u{2069} \u{2066} begin admins only */\n"

@Suite struct TriageTests {
    @Test func theFingerprintIsTheDocumentedHash() throws {
        // The two examples of Manifests/FORMAT.md § Scan exceptions: a finding about no line
        // (its line digest is empty), and one about a line, whose digest is the line's SHA-256.
        let root = try temporaryDirectory()
        try write(root, ["t.c": "int a; /*\u{202E} x */\n"], links: ["abs": "/etc/x"])
        let findings = try scanJSON(["--dir", root.path]).findings
        let link = try #require(findings.first { $0["path"] as? String == "abs" })
        let bidi = try #require(findings.first { $0["path"] as? String == "t.c" })
        let symlink = #"printf '%s\0' 'glassbox-scan-fingerprint v2' symlink-absolute abs '' "points to the absolute path '/etc/x', outside the release" '' | openssl dgst -sha256 -r | cut -c1-32"#
        #expect(try run("bash", ["-c", symlink]).stdout == "862a0134cbc2cc0f0e5ddd83e642c709\n")
        #expect(link["fingerprint"] as? String == "862a0134cbc2cc0f0e5ddd83e642c709")
        #expect(link["lineDigest"] == nil)
        let line = #"d=$(printf 'int a; /*\xe2\x80\xae x */' | openssl dgst -sha256 -r | cut -c1-64); echo $d; "#
            + #"printf '%s\0' 'glassbox-scan-fingerprint v2' bidi-unterminated t.c 'U+202E RIGHT-TO-LEFT OVERRIDE' "#
            + #"'bidi control left open at the end of a comment: the text shown is reordered' "$d" | openssl dgst -sha256 -r | cut -c1-32"#
        #expect(try run("bash", ["-c", line]).stdout
                == "64494861a4a019479ba66358fd1986b5c5abc92412b0e4a9d486c1ff7f925845\n313985c294ce267f4453b45aa30255b5\n")
        #expect(bidi["lineDigest"] as? String == "64494861a4a019479ba66358fd1986b5c5abc92412b0e4a9d486c1ff7f925845")
        #expect(bidi["fingerprint"] as? String == "313985c294ce267f4453b45aa30255b5")
    }

    /// An exceptions file accepting each finding of `root` once.
    private func exceptionsFor(_ root: URL, times: Int = 1) throws -> URL {
        let file = try temporaryDirectory("side").appendingPathComponent("exceptions")
        var lines = ["glassbox-scan-exceptions v2"]
        for f in try scanJSON(["--dir", root.path]).findings {
            for _ in 0..<times { lines.append("\(f["path"]!) \(f["rule"]!) \(f["fingerprint"]!) a Hebrew test vector, reviewed") }
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
        return file
    }

    @Test func anExceptionAcceptsOneFindingNotASecondCopyOfIt() throws {
        let root = try temporaryDirectory()
        let reviewed = "// test vector: \u{202E}abc\n"
        try write(root, ["t.c": "int a;\n" + reviewed])
        let exceptions = try exceptionsFor(root)
        #expect(try glassbox(["scan", "--dir", root.path, "--exceptions", exceptions.path]).status == 0)
        // The reviewed line moved to another line number is still the reviewed line.
        try write(root, ["t.c": "int a;\nint b;\n\n" + reviewed])
        #expect(try glassbox(["scan", "--dir", root.path, "--exceptions", exceptions.path]).status == 0)
        // A second copy of the exact reviewed line is a second finding: one exception, one line.
        try write(root, ["t.c": "int a;\n" + reviewed + "int b;\n" + reviewed])
        let twice = try scanJSON(["--dir", root.path, "--exceptions", exceptions.path])
        #expect(twice.status == 1)
        #expect(twice.findings.map { $0["line"] as? Int } == [4], "\(twice.findings)")
        #expect((twice.object["excepted"] as? [[String: Any]])?.count == 1)
        // Reviewed twice, written twice: both are accepted.
        #expect(try glassbox(["scan", "--dir", root.path, "--exceptions", try exceptionsFor(root, times: 1).path]).status == 0)
        try write(root, ["t.c": "int a;\n" + reviewed])
        let spare = try glassbox(["scan", "--dir", root.path, "--exceptions", try exceptionsFor(root, times: 2).path])
        #expect(spare.status == 0)
        #expect(spare.stdout.contains("note: 1 exception in"), "\(spare.stdout)")   // the one left over is named
    }

    @Test func anExceptionDoesNotAcceptAnotherLineWithTheSameCharacters() throws {
        // The reviewed line and an attack: same rule, same code point, same message.
        let root = try temporaryDirectory()
        try write(root, ["t.c": "int admin = 0;\n// test vector: \u{202E}abc\n"])
        let exceptions = try exceptionsFor(root)
        try write(root, ["t.c": "int admin = 0;\n/*\u{202E} } if (admin) begin admins only */\n"])
        let result = try scanJSON(["--dir", root.path, "--exceptions", exceptions.path])
        #expect(result.status == 1)
        #expect(result.findings.map { $0["rule"] as? String } == ["bidi-unterminated"])
        #expect((result.object["unusedExceptions"] as? [Any])?.count == 1)
    }

    @Test(arguments: ["json", "sarif"])
    func aBaselineDoesNotAcceptAnotherLineWithTheSameCharacters(format: String) throws {
        let root = try temporaryDirectory()
        try write(root, ["t.c": "int admin = 0;\n// test vector: \u{202E}abc\n"])
        let old = try temporaryDirectory("side").appendingPathComponent("old-\(format)")
        try glassbox(["scan", "--dir", root.path, "--\(format)"]).stdoutBytes.write(to: old)
        try write(root, ["t.c": "int admin = 0;\n/*\u{202E} } if (admin) begin admins only */\n"])
        let after = try scanJSON(["--dir", root.path, "--baseline", old.path])
        #expect(after.status == 1)
        #expect(after.findings.map { $0["line"] as? Int } == [2])
        #expect((after.object["baseline"] as? [String: Any])?["gone"] as? Int == 1)
        // Two copies of the reviewed line against a baseline of one: the second is new.
        try write(root, ["t.c": "int admin = 0;\n// test vector: \u{202E}abc\n// test vector: \u{202E}abc\n"])
        let twice = try scanJSON(["--dir", root.path, "--baseline", old.path])
        #expect(twice.findings.map { $0["line"] as? Int } == [3])
    }

    @Test func triageFilesFromBeforeLineDigestsAreRefusedWithAHint() throws {
        let root = try temporaryDirectory()
        try write(root, [:], links: ["abs": "/etc/x"])
        let side = try temporaryDirectory("side")
        // The fingerprint version 1 gave this finding (FORMAT.md's old example).
        let v1 = "376847a9f6e33290ef4c295eaff5e61e"
        let files: [(String, String, String)] = [
            ("exceptions", "glassbox-scan-exceptions v1\nabs symlink-absolute \(v1) reviewed\n", "version 1 exceptions file"),
            ("old.json", #"{"mediaType": "application/vnd.glassbox.scan.v1+json", "findings": [{"rule": "symlink-absolute", "severity": "error", "path": "abs", "codePoints": [], "message": "points to the absolute path '/etc/x', outside the release", "fingerprint": "\#(v1)"}]}"#,
             "version 1 fingerprint"),
            ("old.sarif", #"{"runs": [{"results": [{"partialFingerprints": {"glassbox/v1": "\#(v1):1"}}]}]}"#, "only a \"glassbox/v1\" fingerprint"),
        ]
        for (name, text, message) in files {
            let file = side.appendingPathComponent(name)
            try Data(text.utf8).write(to: file)
            let option = name == "exceptions" ? "--exceptions" : "--baseline"
            let result = try glassbox(["scan", "--dir", root.path, option, file.path])
            #expect(result.status == 2, "\(name): \(result.stdout)")
            #expect(result.stderr.hasPrefix("glassbox: error: \(file.path)"), "\(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.contains("glassbox: hint: "), "\(result.stderr)")
        }
    }

    @Test(arguments: ["json", "sarif"])
    func aBaselineHidesKnownFindingsEvenWhenTheirLinesMove(format: String) throws {
        let root = try temporaryDirectory()
        try write(root, ["trojan.c": trojan], links: ["abs": "/etc/x"])
        let old = try temporaryDirectory("side").appendingPathComponent("old-\(format)")
        let before = try glassbox(["scan", "--dir", root.path, "--\(format)"])
        #expect(before.status == 1)
        try before.stdoutBytes.write(to: old)

        // Lines added above move the known finding; a new file brings a new one; a symlink
        // pointed elsewhere is a new finding too.
        try write(root, ["trojan.c": "// a comment\n// another\n" + trojan, "added.c": "int x; /*\u{202E} */\n"], links: ["abs": "/etc/y"])
        let after = try scanJSON(["--dir", root.path, "--baseline", old.path])
        #expect(after.status == 1)
        let shown = after.findings.map { "\($0["rule"]!) \($0["path"]!)" }
        #expect(shown.sorted() == ["bidi-unterminated added.c", "symlink-absolute abs"].sorted(), "\(shown)")
        let baseline = try #require(after.object["baseline"] as? [String: Any])
        #expect(baseline["known"] as? Int == 1)   // the trojan.c finding, now on line 4
        #expect(baseline["gone"] as? Int == 1)    // the /etc/x symlink

        let text = try glassbox(["scan", "--dir", root.path, "--baseline", old.path])
        #expect(text.stdout.contains("baseline \(old.path): 1 finding already there, not shown; 1 no longer found"), "\(text.stdout)")
        #expect(!text.stdout.contains("trojan.c"))

        // With nothing new, the exit status is 0.
        try FileManager.default.removeItem(at: root.appendingPathComponent("added.c"))
        try write(root, [:], links: ["abs": "/etc/x"])
        #expect(try glassbox(["scan", "--dir", root.path, "--baseline", old.path]).status == 0)
    }

    @Test func aSecondOccurrenceOfAKnownFindingIsNew() throws {
        let root = try temporaryDirectory()
        let line = "int a; /*\u{202E} x */\n"
        try write(root, ["t.c": line])
        let old = try temporaryDirectory("side").appendingPathComponent("old.json")
        try glassbox(["scan", "--dir", root.path, "--json"]).stdoutBytes.write(to: old)
        try write(root, ["t.c": line + line])
        let after = try scanJSON(["--dir", root.path, "--baseline", old.path])
        #expect(after.findings.count == 1, "\(after.findings)")   // the second line's finding
        #expect(after.findings.allSatisfy { $0["line"] as? Int == 2 })
    }

    @Test func exceptionsAreListedWithTheirReasonAndUnusedOnesAreNamed() throws {
        let root = try temporaryDirectory()
        try write(root, ["dir with space/t.c": "int a; /*\u{202E} x */\n", "u.c": "int b; /*\u{202E} y */\n"],
                  links: ["abs": "/etc/x", "e ": "/etc/x"])
        let findings = try scanJSON(["--dir", root.path]).findings
        let link = try #require(findings.first { $0["path"] as? String == "abs" })
        // A space at the end is already \x20 in the escaped path; one inside is written so.
        let edge = try #require(findings.first { $0["path"] as? String == "e\\x20" && $0["rule"] as? String == "symlink-absolute" })
        let bidi = findings.filter { $0["rule"] as? String == "bidi-unterminated" && $0["path"] as? String == "dir with space/t.c" }
        #expect(bidi.count == 1)
        let exceptions = try temporaryDirectory("side").appendingPathComponent("exceptions")
        try Data("""
            glassbox-scan-exceptions v2
            # reviewed by the release team
            abs symlink-absolute \(link["fingerprint"]!) the installer creates /etc/x on purpose
            dir\\x20with\\x20space/t.c bidi-unterminated \(bidi[0]["fingerprint"]!) Hebrew test vector
            gone.c bidi-control 0123456789abcdef0123456789abcdef an old exception
            e\\x20 symlink-absolute \(edge["fingerprint"]!) a name ending in a space

            """.utf8).write(to: exceptions)
        let result = try glassbox(["scan", "--dir", root.path, "--exceptions", exceptions.path])
        #expect(result.status == 1)   // u.c's bidi finding is not excepted
        #expect(result.stdout.hasPrefix("glassbox: scan: 1 error, 1 warning, 0 notes\n"), "\(result.stdout)")   // "e " ends in a space: a warning
        #expect(result.stdout.contains("excepted (3) by \(exceptions.path):\n"), "\(result.stdout)")
        #expect(result.stdout.contains("— line 6: a name ending in a space"), "\(result.stdout)")
        #expect(result.stdout.contains("abs: symlink-absolute: points to the absolute path '/etc/x', outside the release — line 3: the installer creates /etc/x on purpose"),
                "\(result.stdout)")
        #expect(result.stdout.contains("— line 4: Hebrew test vector"))
        #expect(result.stdout.contains("note: 1 exception in \(exceptions.path) matched no finding:\n  line 5: bidi-control gone.c 0123456789abcdef0123456789abcdef"),
                "\(result.stdout)")

        let json = try scanJSON(["--dir", root.path, "--exceptions", exceptions.path])
        #expect((json.object["excepted"] as? [Any])?.count == 3)
        #expect((json.object["unusedExceptions"] as? [[String: Any]])?.first?["line"] as? Int == 5)
        #expect(json.findings.count == 2)
    }

    @Test(arguments: [
        ("abs symlink-absolute 0123456789abcdef0123456789abcdef reason\n", 1, "expected 'glassbox-scan-exceptions v2'"),
        ("glassbox-scan-exceptions v2\r\n", 1, "carriage return"),
        ("glassbox-scan-exceptions v2\nabs\tsymlink-absolute 0123456789abcdef0123456789abcdef reason\n", 2, "control character"),
        ("glassbox-scan-exceptions v2\nabs symlink-absolute 0123456789ABCDEF0123456789abcdef reason\n", 2, "32 lowercase hex"),
        ("glassbox-scan-exceptions v2\nabs symlink-absolute 0123456789abcdef reason\n", 2, "32 lowercase hex"),
        ("glassbox-scan-exceptions v2\nabs no-such-rule 0123456789abcdef0123456789abcdef reason\n", 2, "unknown scan rule 'no-such-rule'"),
        ("glassbox-scan-exceptions v2\nabs symlink-absolute 0123456789abcdef0123456789abcdef\n", 2, "with a reason"),
        ("glassbox-scan-exceptions v2\nabs  symlink-absolute 0123456789abcdef0123456789abcdef reason\n", 2, "one space apart"),
        ("glassbox-scan-exceptions v2\na b symlink-absolute 0123456789abcdef0123456789abcdef reason\n", 2, "unknown scan rule 'b'"),
        ("glassbox-scan-exceptions v2\na\\x41 symlink-absolute 0123456789abcdef0123456789abcdef reason\n", 2, "escaped form"),
        ("glassbox-scan-exceptions v1\nabs symlink-absolute 0123456789abcdef0123456789abcdef reason\n", 1, "a version 1 exceptions file"),
        ("glassbox-scan-exceptions v2\nabs symlink-absolute 0123456789abcdef0123456789abcdef ok \u{202E}reversed\n", 2, "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("glassbox-scan-exceptions v2\nabs symlink-absolute 0123456789abcdef0123456789abcdef ok\u{200B}\n", 2, "U+200B ZERO WIDTH SPACE"),
        ("", nil, "the file is empty"),
    ] as [(String, Int?, String)])
    func badExceptionFilesAreRefusedNamingFileAndLine(text: String, line: Int?, message: String) throws {
        let root = try temporaryDirectory()
        let file = try temporaryDirectory("side").appendingPathComponent("bad-exceptions")
        try Data(text.utf8).write(to: file)
        let result = try glassbox(["scan", "--dir", root.path, "--exceptions", file.path])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.hasPrefix("glassbox: error: \(file.path)\(line.map { ":\($0)" } ?? ""): "), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func anExceptionsFileTooLargeIsNotRead() throws {
        let root = try temporaryDirectory()
        let file = try temporaryDirectory("side").appendingPathComponent("huge-exceptions")
        try Data(count: (1 << 20) + 1).write(to: file)
        let result = try glassbox(["scan", "--dir", root.path, "--exceptions", file.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("at most 1048576 are read"), "\(result.stderr)")
    }

    @Test func aBaselineThatIsNotAScanResultIsRefused() throws {
        let root = try temporaryDirectory()
        let file = try temporaryDirectory("side").appendingPathComponent("not-a-baseline")
        for text in ["[]", "{\"runs\": [{\"results\": [{\"ruleId\": \"x\"}]}]}", "{\"mediaType\": \"other\"}"] {
            try Data(text.utf8).write(to: file)
            let result = try glassbox(["scan", "--dir", root.path, "--baseline", file.path])
            #expect(result.status == 2, "\(text): \(result.stderr)")
            #expect(result.stderr.hasPrefix("glassbox: error: \(file.path): "), "\(result.stderr)")
        }
    }

    @Test func thePolicysExceptionsAreReadBesideItAndListedInTheReport() throws {
        let release = try SignedTrojanRelease()
        let findings = try scanJSON(["--repo", release.repo.path, "--rev", "v1.0.0"]).findings
        #expect(findings.count == 1)
        var lines = ["glassbox-scan-exceptions v2"]
        for (index, f) in findings.enumerated() {
            lines.append("\(f["path"]!) \(f["rule"]!) \(f["fingerprint"]!) reviewed as a test vector \(index + 1)")
        }
        lines.append("src/main.c invisible-character 0123456789abcdef0123456789abcdef no longer there")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: release.dir.appendingPathComponent("policy/reviewed"))
        try release.writePolicy(["scan-exceptions reviewed"])

        // Run from another directory: the path is relative to the policy, not to the caller.
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path],
                                       in: URL(fileURLWithPath: "/"))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED (1 scan finding excepted) trojan 1.0.0"), "\(result.stdout)")
        let file = release.dir.appendingPathComponent("policy/reviewed").path
        #expect(result.stdout.contains("exceptions 1 finding excepted by \(file), 1 exception unused"), "\(result.stdout)")
        #expect(result.stdout.contains("excepted by \(file):2: reviewed as a test vector 1"), "\(result.stdout)")
        #expect(result.stdout.contains("· scan-exception-unused \(file):3: the exception for invisible-character src/main.c"), "\(result.stdout)")

        // A broken exceptions file is bad input, named with its line.
        try Data("glassbox-scan-exceptions v2\nnot an exception\n".utf8).write(to: release.dir.appendingPathComponent("policy/reviewed"))
        let broken = try release.verify()
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("\(file):2: "), "\(broken.stderr)")
    }
}

import Foundation
import Testing

/// A release whose signatures, root and tree are all good, but whose source hides a Trojan
/// Source line (CVE-2021-42574): an RLO opened in a comment and never closed. Only the scan
/// can tell a reviewer about it.
struct SignedTrojanRelease {
    let dir: URL
    var repo: URL { dir.appendingPathComponent("vendor") }
    var manifest: String { dir.appendingPathComponent("trojan.manifest").path }
    var trust: String { dir.appendingPathComponent("policy/trust").path }

    init(policyLines: [String] = []) throws {
        dir = try temporaryDirectory("trojan")
        let fm = FileManager.default
        try fm.createDirectory(at: repo.appendingPathComponent("src"), withIntermediateDirectories: true)
        try Data("int is_admin(int user) {\n    return 0; /*\u{202E} } if (user == 0) { \u{2066}*/ return 1;\n}\n".utf8)
            .write(to: repo.appendingPathComponent("src/trojan.c"))
        try Data("int main(void) { return 0; }\n".utf8).write(to: repo.appendingPathComponent("src/main.c"))
        try git(["init", "-q"], in: repo)
        try git(["add", "-A"], in: repo)
        try git(["commit", "-q", "-m", "release"], in: repo)
        try git(["tag", "v1.0.0"], in: repo)
        for (name, algorithm) in [("a", "ed25519"), ("b", "ecdsa-p256")] {
            let made = try glassbox("keygen", "--name", "vendor.example/\(name)", "--algorithm", algorithm, "-o", dir.appendingPathComponent(name).path)
            #expect(made.status == 0, "\(made.stderr)")
        }
        let made = try glassbox("manifest", "--repo", repo.path, "--rev", "v1.0.0", "--origin", "vendor.example/trojan/1.0.0", "--name", "trojan", "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        for signer in ["a", "b"] {
            #expect(try glassbox("sign", "--key", dir.appendingPathComponent("\(signer).key").path, manifest).status == 0)
        }
        try writePolicy(policyLines)
    }

    /// Writes the 2-of-2 policy with `lines` added (in policy/, so relative paths in it are
    /// relative to that directory, not to the working directory).
    func writePolicy(_ lines: [String]) throws {
        var policy = "glassbox-trust v1\nthreshold 2\n"
        for name in ["a", "b"] {
            let vkey = try String(contentsOfFile: dir.appendingPathComponent("\(name).pub").path, encoding: .utf8)
            policy += "key \(vkey.trimmingCharacters(in: .newlines))\n"
        }
        policy += lines.map { $0 + "\n" }.joined()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
        try Data(policy.utf8).write(to: URL(fileURLWithPath: trust))
    }

    func verify(_ extra: [String] = []) throws -> Result {
        try verifyRelease(["--manifest", manifest, "--trust", trust, "--repo", repo.path] + extra)
    }
}

@Suite struct ScanVerdictTests {
    @Test func aSignedTreeWithTrojanSourceFailsByDefault() throws {
        let release = try SignedTrojanRelease()
        let result = try release.verify()
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: FAILED trojan 1.0.0 (vendor.example/trojan/1.0.0): 1 problem\n"), "\(result.stdout)")
        #expect(result.stdout.contains("✗ bidi-unterminated src/trojan.c:2:17"), "\(result.stdout)")
        #expect(result.stdout.contains("scan       1 finding, 1 failing (findings at error or above fail: default)"), "\(result.stdout)")
        // Nothing else is wrong with the release: the signatures and the tree are good.
        #expect(!result.stdout.contains("signature ("), "\(result.stdout)")
        #expect(!result.stdout.contains("source ("), "\(result.stdout)")
    }

    @Test func thePoliciesScanFailOnNoneVerifiesAndSaysTheScanDidNotCount() throws {
        let release = try SignedTrojanRelease(policyLines: ["scan-fail-on none"])
        let result = try release.verify()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED (scan not counted: 1 error) trojan 1.0.0 (vendor.example/trojan/1.0.0)\n"),
                "\(result.stdout)")
        #expect(result.stdout.contains("scan       1 finding (the scan does not count: policy)"), "\(result.stdout)")
        #expect(result.stdout.contains("· bidi-unterminated src/trojan.c:2:17: error:"), "\(result.stdout)")
        // --quiet prints only the first line: it still says so.
        let quiet = try release.verify(["--quiet"])
        #expect(quiet.stdout == "verify-release: VERIFIED (scan not counted: 1 error) trojan 1.0.0 (vendor.example/trojan/1.0.0)\n")
    }

    @Test func failOnNoneDoesTheSameAndTheReportSaysWhereTheThresholdCameFrom() throws {
        let release = try SignedTrojanRelease()
        let result = try release.verify(["--fail-on", "none"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED (scan not counted: 1 error) trojan"), "\(result.stdout)")
        #expect(result.stdout.contains("(the scan does not count: --fail-on)"), "\(result.stdout)")

        let json = try release.verify(["--fail-on", "none", "--json"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as! [String: Any]
        #expect(object["verified"] as? Bool == true)
        #expect(object["scanFailOn"] as? String == "none")
        #expect(object["scanFailOnSource"] as? String == "--fail-on")
        #expect((object["scanCounts"] as? [String: Int])?["error"] == 1)
    }

    @Test func failOnOverridesThePolicyEitherWay() throws {
        let lowered = try SignedTrojanRelease(policyLines: ["scan-fail-on none"])
        let raised = try lowered.verify(["--fail-on", "error"])
        #expect(raised.status == 1, "\(raised.stdout)")
        #expect(raised.stdout.contains("(findings at error or above fail: --fail-on)"), "\(raised.stdout)")

        let strict = try SignedTrojanRelease(policyLines: ["scan-fail-on warning"])
        let fromPolicy = try strict.verify()
        #expect(fromPolicy.status == 1)
        #expect(fromPolicy.stdout.contains("(findings at warning or above fail: policy)"), "\(fromPolicy.stdout)")
        let overridden = try strict.verify(["--fail-on", "none"])
        #expect(overridden.status == 0, "\(overridden.stdout)")
    }

    @Test func aCleanTreeVerifiesWithAnUnqualifiedLine() throws {
        let release = try SignedTrojanRelease()
        // The same release without the hidden line: nothing to qualify.
        try Data("int is_admin(int user) {\n    return 0;\n}\n".utf8).write(to: release.repo.appendingPathComponent("src/trojan.c"))
        try git(["commit", "-q", "-am", "clean"], in: release.repo)
        try git(["tag", "-f", "v1.0.0"], in: release.repo)
        let manifest = release.dir.appendingPathComponent("clean.manifest").path
        #expect(try glassbox("manifest", "--repo", release.repo.path, "--rev", "v1.0.0", "--origin", "vendor.example/trojan/1.0.0",
                             "--name", "trojan", "-o", manifest).status == 0)
        for signer in ["a", "b"] {
            #expect(try glassbox("sign", "--key", release.dir.appendingPathComponent("\(signer).key").path, manifest).status == 0)
        }
        let result = try verifyRelease(["--manifest", manifest, "--trust", release.trust, "--repo", release.repo.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED trojan 1.0.0"), "\(result.stdout)")
    }

    @Test(arguments: ["scan-fail-on never", "scan-fail-on", "scan-fail-on none\nscan-fail-on error"])
    func aBadScanFailOnLineIsRefusedNamingTheLine(line: String) throws {
        let release = try SignedTrojanRelease(policyLines: [line])
        let result = try release.verify()
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("trust:5: expected one 'scan-fail-on note|warning|error|none'") ||
                result.stderr.contains("trust:6: expected one 'scan-fail-on note|warning|error|none'"), "\(result.stderr)")
    }

    @Test func failOnTakesOnlyKnownValues() throws {
        let release = try SignedTrojanRelease()
        let result = try release.verify(["--fail-on", "never"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--fail-on takes note, warning, error or none"), "\(result.stderr)")
    }
}

@Suite struct ScanOfGitTreesTests {
    /// From git, verify-release scans the stored objects as `glassbox scan --repo` does: a
    /// `filter=` whose driver the repository's own config defines is an error (a checkout here
    /// runs it), and the findings are the same in both.
    @Test func verifyReleaseFindsWhatScanRepoFinds() throws {
        let dir = try temporaryDirectory()
        let repo = dir.appendingPathComponent("vendor")
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        try Data("*.txt filter=upper\n*.c eol=crlf\n".utf8).write(to: repo.appendingPathComponent(".gitattributes"))
        try Data("hello\n".utf8).write(to: repo.appendingPathComponent("a.txt"))
        try Data("int main(void) { return 0; }\n".utf8).write(to: repo.appendingPathComponent("m.c"))
        try git(["init", "-q"], in: repo)
        try git(["config", "filter.upper.smudge", "tr a-z A-Z"], in: repo)
        try git(["add", "-A"], in: repo)
        try git(["commit", "-q", "-m", "release"], in: repo)
        #expect(try glassbox("keygen", "--name", "vendor.example/a", "-o", dir.appendingPathComponent("a").path).status == 0)
        let manifest = dir.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--repo", repo.path, "--rev", "HEAD", "--origin", "vendor.example/f/1", "-o", manifest).status == 0)
        #expect(try glassbox("sign", "--key", dir.appendingPathComponent("a.key").path, manifest).status == 0)
        let vkey = try String(contentsOfFile: dir.appendingPathComponent("a.pub").path, encoding: .utf8)
        let trust = dir.appendingPathComponent("trust")
        try Data("glassbox-trust v1\nthreshold 1\nkey \(vkey.trimmingCharacters(in: .newlines))\n".utf8).write(to: trust)

        let scanned = try glassbox("scan", "--repo", repo.path, "--json")
        let scanFindings = try #require((try JSONSerialization.jsonObject(with: scanned.stdoutBytes) as? [String: Any])?["findings"] as? [[String: Any]])
        let expected = Set(scanFindings.map { "\($0["rule"]!) \($0["path"]!):\($0["line"] ?? "")" })
        #expect(expected.contains("gitattributes-filter .gitattributes:1"), "\(expected)")

        let verified = try verifyRelease(["--manifest", manifest, "--trust", trust.path, "--repo", repo.path, "--json"])
        #expect(verified.status == 1, "the filter a checkout here would run is an error: \(verified.stdout)")
        let findings = try #require((try JSONSerialization.jsonObject(with: verified.stdoutBytes) as? [String: Any])?["findings"] as? [[String: Any]])
        let got = Set(findings.filter { $0["category"] as? String == "scan" }.compactMap { f -> String? in
            guard let subject = f["subject"] as? String else { return nil }
            return "\(f["code"]!) \(subject)"
        })
        #expect(got == expected, "verify-release: \(got)\nscan --repo: \(expected)")
    }
}

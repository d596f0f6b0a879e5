import Foundation
import Testing

/// `verify-release` with the given arguments.
@discardableResult
func verifyRelease(_ arguments: [String], in directory: URL? = nil) throws -> Result {
    try run(productsDirectory.appendingPathComponent("verify-release").path, arguments, in: directory)
}

/// A signed release of the fixture's `plain` repository: three keys (Ed25519, ECDSA P-256,
/// Ed25519), a manifest with two artifacts signed by the first two, and a 2-of-3 policy.
struct SignedRelease {
    let dir: URL
    var manifest: String { dir.appendingPathComponent("plain-2.0.0.manifest").path }
    var trust: String { dir.appendingPathComponent("trust").path }
    var artifacts: URL { dir.appendingPathComponent("dist") }
    var repo: URL { fixtureRoot.appendingPathComponent("plain") }
    func key(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init(signers: [String] = ["a", "b"], policyExtra: [String: String] = [:]) throws {
        dir = try temporaryDirectory("release")
        for (name, algorithm) in [("a", "ed25519"), ("b", "ecdsa-p256"), ("c", "ed25519")] {
            let made = try glassbox("keygen", "--name", "vendor.example/\(name)", "--algorithm", algorithm, "-o", dir.appendingPathComponent(name).path)
            #expect(made.status == 0, "\(made.stderr)")
        }
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try Data("ELF pretend binary\n".utf8).write(to: artifacts.appendingPathComponent("plain-linux-amd64"))
        try Data("tarball\n".utf8).write(to: artifacts.appendingPathComponent("plain-2.0.0.tar.gz"))
        let made = try glassbox("manifest", "--repo", repo.path, "--rev", "v2.0.0", "--origin", "vendor.example/plain/2.0.0",
                                "--artifact", artifacts.path, "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        for signer in signers {
            #expect(try glassbox("sign", "--key", key("\(signer).key"), manifest).status == 0)
        }
        var policy = "glassbox-trust v1\nthreshold 2\n"
        for name in ["a", "b", "c"] {
            let vkey = try String(contentsOfFile: key("\(name).pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
            policy += "key \(vkey)\(policyExtra[name].map { " " + $0 } ?? "")\n"
        }
        try Data(policy.utf8).write(to: URL(fileURLWithPath: trust))
    }

    func verifyDirectory(_ tree: URL, extra: [String] = []) throws -> Result {
        try verifyRelease(["--manifest", manifest, "--trust", trust, "--dir", tree.path, "--artifacts", artifacts.path] + extra)
    }
}

@Suite struct VerifyReleaseTests {
    @Test func aGoodReleasePassesFromGitAndFromAnUnpackedDirectory() throws {
        let release = try SignedRelease()
        let fromGit = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust,
                                         "--repo", release.repo.path, "--artifacts", release.artifacts.path])
        #expect(fromGit.status == 0, "\(fromGit.stdout)\(fromGit.stderr)")
        #expect(fromGit.stdout.hasPrefix("verify-release: VERIFIED plain 2.0.0 (vendor.example/plain/2.0.0)\n"))
        #expect(fromGit.stdout.contains("signers    2 of 2 required: vendor.example/a, vendor.example/b"))
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let fromDir = try release.verifyDirectory(tree)
        #expect(fromDir.status == 0, "\(fromDir.stdout)\(fromDir.stderr)")
        // The same through `glassbox verify-release`, and as JSON.
        let json = try glassbox("verify-release", "--manifest", release.manifest, "--trust", release.trust,
                                "--dir", tree.path, "--artifacts", release.artifacts.path, "--json")
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as! [String: Any]
        #expect(object["mediaType"] as? String == "application/vnd.glassbox.verification.v1+json")
        #expect(object["verified"] as? Bool == true)
        #expect((object["signers"] as? [String])?.count == 2)
    }

    @Test(arguments: ["changed-byte", "added-file", "removed-file", "mode-change", "symlink-retarget",
                      "replaced-artifact", "extra-artifact"])
    func everyTamperCaseFailsNamingThePath(tamper: String) throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let fm = FileManager.default
        let expected: (code: String, path: String)
        switch tamper {
        case "changed-byte":
            let file = tree.appendingPathComponent("src/auth.c")
            var data = try Data(contentsOf: file)
            data[4] ^= 0x20
            try data.write(to: file)
            expected = ("modified", "src/auth.c")
        case "added-file":
            try Data("backdoor\n".utf8).write(to: tree.appendingPathComponent("src/debug.c"))
            expected = ("extra", "src/debug.c")
        case "removed-file":
            try fm.removeItem(at: tree.appendingPathComponent("src/main.c"))
            expected = ("missing", "src/main.c")
        case "mode-change":
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree.appendingPathComponent("src/main.c").path)
            expected = ("mode-changed", "src/main.c")
        case "symlink-retarget":
            try fm.removeItem(at: tree.appendingPathComponent("README"))
            try fm.createSymbolicLink(atPath: tree.appendingPathComponent("README").path, withDestinationPath: "src/auth.c")
            expected = ("retargeted", "README")
        case "replaced-artifact":
            try Data("ELF evil binary\n".utf8).write(to: release.artifacts.appendingPathComponent("plain-linux-amd64"))
            expected = ("modified", "plain-linux-amd64")
        default:
            try Data("surprise".utf8).write(to: release.artifacts.appendingPathComponent("plain-installer.sh"))
            expected = ("unlisted", "plain-installer.sh")
        }
        let result = try release.verifyDirectory(tree)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: FAILED plain 2.0.0 (vendor.example/plain/2.0.0): 1 problem\n"))
        #expect(result.stdout.contains("✗ \(expected.code) \(expected.path): "), "\(result.stdout)")
    }

    @Test func twoOfThreeNeedsTwoSignatures() throws {
        let one = try SignedRelease(signers: ["a"])
        let tree = try unpackArchive(one.repo, "v2.0.0")
        let failed = try one.verifyDirectory(tree)
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("✗ threshold-not-met: 1 of the 2 required trusted signatures"))
        #expect(try glassbox("sign", "--key", one.key("c.key"), one.manifest).status == 0)
        #expect(try one.verifyDirectory(tree).status == 0)
    }

    @Test func aRetiredKeyStopsCounting() throws {
        let release = try SignedRelease(policyExtra: ["a": "not-after=2020-12-31"])
        let result = try release.verifyDirectory(try unpackArchive(release.repo, "v2.0.0"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("key-outside-validity vendor.example/a"))
        #expect(result.stdout.contains("retired after 2020-12-31"))
        let future = try SignedRelease(policyExtra: ["b": "not-before=2999-01-01"])
        #expect(try future.verifyDirectory(try unpackArchive(future.repo, "v2.0.0")).status == 1)
    }

    @Test func aKeyOnlyCountsForItsOrigins() throws {
        let release = try SignedRelease(policyExtra: ["a": "origins=vendor.example/other/*"])
        let result = try release.verifyDirectory(try unpackArchive(release.repo, "v2.0.0"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("key-not-allowed-for-origin vendor.example/a"))
        let allowed = try SignedRelease(policyExtra: ["a": "origins=vendor.example/plain/*", "b": "origins=vendor.example/plain/2.0.0"])
        #expect(try allowed.verifyDirectory(try unpackArchive(allowed.repo, "v2.0.0")).status == 0)
    }

    @Test func aCorruptedSignatureByATrustedKeyFails() throws {
        let release = try SignedRelease(signers: ["a", "b", "c"])
        var text = try String(contentsOfFile: release.manifest, encoding: .utf8)
        let line = text.split(separator: "\n").first { $0.hasPrefix("— vendor.example/c ") }!
        var blob = Array(Data(base64Encoded: String(line.split(separator: " ")[2]))!)
        blob[10] ^= 0x01
        text = text.replacingOccurrences(of: String(line), with: "— vendor.example/c \(Data(blob).base64EncodedString())")
        try Data(text.utf8).write(to: URL(fileURLWithPath: release.manifest))
        let result = try release.verifyDirectory(try unpackArchive(release.repo, "v2.0.0"))
        #expect(result.status == 1)
        #expect(result.stdout.contains("✗ bad-signature vendor.example/c"))
    }

    @Test func editedEntriesAndCountsAreDetected() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let original = try String(contentsOfFile: release.manifest, encoding: .utf8)
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.firstIndex { $0.hasPrefix("link ") || $0.hasPrefix("file ") }!
        func attempt(_ edited: [String]) throws -> Result {
            try Data(edited.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: release.manifest))
            return try release.verifyDirectory(tree)
        }
        // An edited entry line no longer hashes to the signed root.
        var edited = lines
        edited[first + 2] = edited[first + 2].replacingOccurrences(of: "src/auth.c", with: "src/auth.C")
        let r1 = try attempt(edited)
        #expect(r1.status == 1)
        #expect(r1.stdout.contains("✗ root-mismatch"))
        // Dropping an entry changes the count.
        edited = lines
        edited.remove(at: first + 1)
        let r2 = try attempt(edited)
        #expect(r2.status == 1)
        #expect(r2.stdout.contains("✗ count-mismatch"))
        // A changed count line breaks the signature.
        edited = lines
        edited[1] = "6"
        let r3 = try attempt(edited)
        #expect(r3.status == 1)
        #expect(r3.stdout.contains("threshold-not-met") && r3.stdout.contains("bad-signature"))
        // Reordered or duplicated lines are malformed manifests: exit 2, naming file and line.
        edited = lines
        edited.swapAt(first, first + 1)
        let r4 = try attempt(edited)
        #expect(r4.status == 2)
        #expect(r4.stderr.hasPrefix("glassbox: error: \(release.manifest):\(first + 2): "))
        edited = lines
        edited.insert(lines[first], at: first)
        #expect(try attempt(edited).status == 2)
        lines.removeAll()
    }

    @Test func malformedInputsAreExit2() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let bad = release.dir.appendingPathComponent("bad")
        for (content, fragment) in [("not a manifest\n", "bad:"), ("", "empty")] {
            try Data(content.utf8).write(to: bad)
            let r = try verifyRelease(["--manifest", bad.path, "--trust", release.trust, "--dir", tree.path])
            #expect(r.status == 2)
            #expect(r.stderr.hasPrefix("glassbox: error: ") && r.stderr.contains(fragment), "\(r.stderr)")
        }
        for (policy, fragment) in [("threshold 1\n", ":1: expected 'glassbox-trust v1'"),
                                   ("glassbox-trust v1\nthreshold 3\nkey nope\n", ":3: bad verifier key"),
                                   ("glassbox-trust v1\nthreshold 0\n", ":2: expected 'threshold K'")] {
            try Data(policy.utf8).write(to: bad)
            let r = try verifyRelease(["--manifest", release.manifest, "--trust", bad.path, "--dir", tree.path])
            #expect(r.status == 2)
            #expect(r.stderr.contains(fragment), "\(r.stderr)")
        }
        #expect(try verifyRelease(["--manifest", release.manifest]).status == 64)
    }

    @Test func runsWithNoNetworkAndWritesNothingIntoTheTree() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        func snapshot() throws -> [String] {
            let e = FileManager.default.enumerator(atPath: tree.path)!
            return try e.compactMap { $0 as? String }.sorted().map { path in
                let a = try FileManager.default.attributesOfItem(atPath: tree.appendingPathComponent(path).path)
                return "\(path) \(a[.modificationDate]!) \(a[.size]!) \(a[.posixPermissions]!)"
            }
        }
        let before = try snapshot()
        let result = try run("unshare", ["-n", productsDirectory.appendingPathComponent("verify-release").path,
                                         "--manifest", release.manifest, "--trust", release.trust,
                                         "--dir", tree.path, "--artifacts", release.artifacts.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(try snapshot() == before)
    }

    @Test func signingAgainWithTheSameKeyChangesNothing() throws {
        let release = try SignedRelease(signers: ["a", "b"])
        let before = try Data(contentsOf: URL(fileURLWithPath: release.manifest))
        #expect(try glassbox("sign", "--key", release.key("b.key"), release.manifest).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: release.manifest)) == before)
        let mode = try FileManager.default.attributesOfItem(atPath: release.key("a.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func opensslAndEncryptedKeysSign() throws {
        let release = try SignedRelease(signers: [])
        let pem = release.dir.appendingPathComponent("ossl.pem").path
        #expect(try run("openssl", ["genpkey", "-algorithm", "ed25519", "-out", pem]).status == 0)
        #expect(try glassbox("sign", "--key", pem, "--name", "ops.example/openssl", release.manifest).status == 0)
        let pass = release.dir.appendingPathComponent("pass").path
        try Data("s3cret\n".utf8).write(to: URL(fileURLWithPath: pass))
        #expect(try glassbox("keygen", "--name", "vendor.example/enc", "-o", release.key("enc"), "--passphrase-file", pass).status == 0)
        let noPass = try glassbox("sign", "--key", release.key("enc.key"), release.manifest)
        #expect(noPass.status == 2)
        #expect(noPass.stderr.contains("glassbox: hint:"))
        #expect(try glassbox("sign", "--key", release.key("enc.key"), "--passphrase-file", pass, release.manifest).status == 0)
        let signatures = try String(contentsOfFile: release.manifest, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("— ") }
        #expect(signatures.map { $0.split(separator: " ")[1] } == ["ops.example/openssl", "vendor.example/enc"])
    }

    @Test func perFileProofsVerifyOneFile() throws {
        let release = try SignedRelease()
        let proof = release.dir.appendingPathComponent("auth.c.tlog-proof").path
        #expect(try glassbox("prove", release.manifest, "src/auth.c", "-o", proof).status == 0)
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let file = tree.appendingPathComponent("src/auth.c")
        let good = try verifyRelease(["--proof", proof, "--trust", release.trust, file.path])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("VERIFIED plain 2.0.0 (vendor.example/plain/2.0.0) file src/auth.c"))
        try Data("int check(const char *p) { return 1; }\n".utf8).write(to: file)
        let changed = try verifyRelease(["--proof", proof, "--trust", release.trust, file.path])
        #expect(changed.status == 1)
        #expect(changed.stdout.contains("✗ modified src/auth.c"))
        // A forged proof hash does not reach the signed root.
        var text = try String(contentsOfFile: proof, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var hash = Array(Data(base64Encoded: text[3])!)
        hash[0] ^= 1
        text[3] = Data(hash).base64EncodedString()
        try Data(text.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: proof))
        let forged = try verifyRelease(["--proof", proof, "--trust", release.trust, tree.appendingPathComponent("src/main.c").path])
        #expect(forged.status == 1)
        #expect(forged.stdout.contains("✗ not-included"))
    }
}

/// An independent C2SP implementation: Go's golang.org/x/mod/sumdb/note and tlog
/// (Debian golang-golang-x-mod-dev), through Tests/Interop/c2sp-check.go.
@Suite struct GoInteropTests {
    private static let checker: String? = {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("c2sp-check-\(ProcessInfo.processInfo.processIdentifier)").path
        let source = repositoryRoot.appendingPathComponent("Tests/Interop/c2sp-check.go").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["go", "build", "-o", out, source]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": NSTemporaryDirectory() + "glassbox-gocache"]) { $1 }
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? out : nil
    }()

    @Test func goOpensOurCheckpointsAndChecksOurProofs() throws {
        let checker = try #require(Self.checker, "building Tests/Interop/c2sp-check.go needs golang-go and golang-golang-x-mod-dev (Scripts/test installs them)")
        let release = try SignedRelease()
        let vkey = try String(contentsOfFile: release.key("a.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let note = release.dir.appendingPathComponent("checkpoint").path
        let printed = try glassbox("checkpoint", release.manifest)
        try printed.stdoutBytes.write(to: URL(fileURLWithPath: note))
        let opened = try run(checker, ["note", vkey, note])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout == "verified vendor.example/a\n")

        for path in ["README", "src/auth.c", "tools/build.sh"] {
            let proof = release.dir.appendingPathComponent("p").path
            #expect(try glassbox("prove", release.manifest, path, "-o", proof).status == 0)
            let checked = try run(checker, ["proof", vkey, proof])
            #expect(checked.status == 0, "\(checked.stderr)")
            #expect(checked.stdout.hasSuffix(" \(path)\n"))
        }
        // And Go rejects a checkpoint we altered.
        var text = try String(contentsOfFile: note, encoding: .utf8)
        text = text.replacingOccurrences(of: "\nname plain\n", with: "\nname plainer\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: note))
        #expect(try run(checker, ["note", vkey, note]).status == 1)
    }
}

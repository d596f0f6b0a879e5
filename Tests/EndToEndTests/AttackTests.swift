import Foundation
import Testing

/// Attempts to get VERIFIED (or a screen that shows it) for a release that trusted keys did not
/// sign as it stands. Each must fail, with the reason named.
@Suite struct AttackTests {
    /// Artifacts given twice under one name: the tampered one must not hide behind the good one,
    /// in either order.
    @Test func artifactsCannotBeShadowedByName() throws {
        let release = try SignedRelease()
        let evil = release.dir.appendingPathComponent("evil")
        try FileManager.default.createDirectory(at: evil, withIntermediateDirectories: true)
        try Data("ELF back-doored binary\n".utf8).write(to: evil.appendingPathComponent("plain-linux-amd64"))
        let tree = try unpackArchive(release.repo, "v2.0.0")
        for order in [[evil.path, release.artifacts.path], [release.artifacts.path, evil.path]] {
            let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--dir", tree.path,
                                            "--artifacts"] + order)
            #expect(result.status == 1, "\(result.stdout)")
            #expect(result.stdout.contains("✗ same-name plain-linux-amd64: two artifact files have this name"))
            #expect(result.stdout.contains("in the artifact directory \(evil.path)"))
            #expect(result.stdout.contains("in the artifact directory \(release.artifacts.path)"))
            #expect(result.stdout.contains("✗ modified plain-linux-amd64"))
        }
    }

    /// One ECDSA key listed under two names (its key ID does not depend on the name) cannot
    /// meet a threshold of 2 with one private key: the policy is refused.
    @Test func oneKeyUnderTwoNamesIsRefused() throws {
        let release = try SignedRelease(signers: [])
        let vkey = try String(contentsOfFile: release.key("b.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let renamed = "other.example/b2+" + vkey.split(separator: "+", maxSplits: 1)[1]
        #expect(try glassbox("sign", "--key", release.key("b.key"), release.manifest).status == 0)
        #expect(try glassbox("sign", "--key", release.key("b.key"), "--name", "other.example/b2", release.manifest).status == 0)
        let policy = release.dir.appendingPathComponent("twice").path
        try Data("glassbox-trust v1\nthreshold 2\nkey \(vkey)\nkey \(renamed)\n".utf8).write(to: URL(fileURLWithPath: policy))
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", policy, "--repo", release.repo.path])
        #expect(result.status == 2, "\(result.stdout)")
        #expect(result.stderr.contains("\(policy):4: the key other.example/b2+"))
        #expect(result.stderr.contains("is the same public key as vendor.example/b+"))
        // `trust init` refuses the same pair.
        let made = try glassbox("trust", "init", "--threshold", "2", "-o", release.dir.appendingPathComponent("t2").path, vkey, renamed)
        #expect(made.status == 2)
        #expect(made.stderr.contains("same public key"))
    }

    /// One ECDSA key written once with an uncompressed and once with a compressed point is one key.
    @Test func oneKeyInTwoEncodingsIsRefused() throws {
        let release = try SignedRelease(signers: [])
        let vkey = try String(contentsOfFile: release.key("b.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let parts = vkey.split(separator: "+", maxSplits: 2)
        let der = Data(base64Encoded: String(parts[2]))!.dropFirst()
        let plain = release.dir.appendingPathComponent("b.der")
        let compressed = release.dir.appendingPathComponent("b-compressed.der")
        try der.write(to: plain)
        let converted = try run("openssl", ["ec", "-pubin", "-inform", "DER", "-in", plain.path, "-conv_form", "compressed",
                                            "-outform", "DER", "-out", compressed.path])
        #expect(converted.status == 0, "\(converted.stderr)")
        let compressedDER = try Data(contentsOf: compressed)
        #expect(compressedDER.count == 59)
        let digest = try run("openssl", ["dgst", "-sha256", "-hex", compressed.path]).stdout
        let keyID = String(digest.split(separator: " ").last!.prefix(8))
        let other = "vendor.example/b-compressed+\(keyID)+" + (Data([0x02]) + compressedDER).base64EncodedString()
        let policy = release.dir.appendingPathComponent("encodings").path
        try Data("glassbox-trust v1\nthreshold 2\nkey \(vkey)\nkey \(other)\n".utf8).write(to: URL(fileURLWithPath: policy))
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", policy, "--repo", release.repo.path])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("is the same public key as vendor.example/b+"))
    }

    /// In --proof mode every tree and log option is refused as a usage error, never ignored.
    @Test(arguments: [["--log-proof", "X", "--log-key", "Y"], ["--witness", "Z"], ["--state", "S"], ["--fail-on", "bogus"],
                      ["--fail-on", "error"], ["--skip-scan-unsafe"], ["--strict-scan"], ["--workers", "2"], ["--rev", "HEAD"],
                      ["--witness-threshold", "1"], ["--log-consistency", "C"], ["--artifacts", "dist"]])
    func proofModeRefusesOptionsItCannotHonour(extra: [String]) throws {
        let release = try SignedRelease()
        let proof = release.dir.appendingPathComponent("auth.c.tlog-proof").path
        #expect(try glassbox("prove", release.manifest, "src/auth.c", "-o", proof).status == 0)
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let result = try verifyRelease(["--proof", proof, "--trust", release.trust, tree.appendingPathComponent("src/auth.c").path] + extra)
        #expect(result.status == 64, "\(extra): \(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("does not take \(extra[0])"))
    }

    /// Options that do nothing together are refused in tree mode too.
    @Test(arguments: [["--skip-scan-unsafe", "--fail-on", "error"], ["--skip-scan-unsafe", "--strict-scan"],
                      ["--path", "x"], ["--witness", "w"], ["--state", "s"], ["--witness-threshold", "1"]])
    func treeModeRefusesOptionsThatWouldBeIgnored(extra: [String]) throws {
        let release = try SignedRelease()
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path] + extra)
        #expect(result.status == 64, "\(extra): \(result.stdout)\(result.stderr)")
    }

    /// Other commands refuse options they would ignore.
    @Test func otherCommandsRefuseIgnoredOptions() throws {
        let dir = try temporaryDirectory()
        for arguments in [["scan", "--dir", dir.path, "--rev", "HEAD"], ["diff", dir.path, dir.path, "--max-bytes", "5"],
                          ["diff", dir.path, dir.path, "--workers", "0"], ["manifest", "--dir", dir.path, "--rev", "HEAD"]] {
            let result = try run(productsDirectory.appendingPathComponent("glassbox").path, arguments)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
        }
    }

    /// A name with CR and ANSI escapes, signed by an untrusted key, cannot paint VERIFIED on
    /// the terminal: every control character reaches it as a visible escape.
    @Test func hostileNamesCannotSpoofTheTerminal() throws {
        let release = try SignedRelease(signers: [])
        let manifest = release.dir.appendingPathComponent("spoof.manifest").path
        let name = "x\r\u{1B}[2K\u{1B}[32mverify-release: VERIFIED plain\u{202E}"
        let made = try glassbox("manifest", "--repo", release.repo.path, "--rev", "v2.0.0", "--origin", "vendor.example/plain/2.0.0",
                                "--name", name, "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        let mallory = release.dir.appendingPathComponent("mallory").path
        #expect(try glassbox("keygen", "--name", "mallory.example/k", "-o", mallory).status == 0)
        #expect(try glassbox("sign", "--key", mallory + ".key", manifest).status == 0)
        for extra in [[], ["--quiet"]] {
            let result = try verifyRelease(["--manifest", manifest, "--trust", release.trust, "--repo", release.repo.path] + extra)
            #expect(result.status == 1)
            #expect(result.stdout.hasPrefix("verify-release: FAILED x⟨U+000D⟩⟨U+001B⟩[2K⟨U+001B⟩[32mverify-release: VERIFIED plain⟨U+202E⟩ 2.0.0"))
            #expect(!result.stdoutBytes.contains(0x0D) && !result.stdoutBytes.contains(0x1B))
            #expect(!result.stdout.unicodeScalars.contains("\u{202E}"))
        }
        // inspect shows it escaped too.
        let inspected = try glassbox("inspect", manifest)
        #expect(!inspected.stdoutBytes.contains(0x1B) && !inspected.stdoutBytes.contains(0x0D))
    }

    /// Witness keys count once each, and the threshold is between 1 and their number.
    @Test func witnessOptionsAreChecked() throws {
        let release = try SignedRelease()
        let base = ["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path,
                    "--log-proof", "p", "--log-key", "k"]
        for bad in [["--witness", "w", "--witness-threshold", "0"], ["--witness", "w", "--witness-threshold", "-1"],
                    ["--witness", "w", "--witness-threshold", "2"], ["--witness", "w", "--witness", "w"]] {
            let result = try verifyRelease(base + bad)
            #expect(result.status == 64, "\(bad): \(result.stderr)")
        }
    }

    /// A per-file proof is bound to the file's path: a file under another name fails unless
    /// the reviewer names the release path, and the proven path is always printed.
    @Test func aFileProofIsBoundToItsPath() throws {
        let release = try SignedRelease()
        let proof = release.dir.appendingPathComponent("auth.c.tlog-proof").path
        #expect(try glassbox("prove", release.manifest, "src/auth.c", "-o", proof).status == 0)
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let renamed = tree.appendingPathComponent("renamed.c")
        try FileManager.default.copyItem(at: tree.appendingPathComponent("src/auth.c"), to: renamed)
        let wrong = try verifyRelease(["--proof", proof, "--trust", release.trust, renamed.path])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.contains("✗ path-mismatch src/auth.c: the proof is for src/auth.c, but the file given is"))
        let quiet = try verifyRelease(["--proof", proof, "--trust", release.trust, "--quiet", renamed.path])
        #expect(quiet.stdout.contains("file src/auth.c"))
        let named = try verifyRelease(["--proof", proof, "--trust", release.trust, "--path", "src/auth.c", "--quiet", renamed.path])
        #expect(named.status == 0, "\(named.stdout)")
        #expect(named.stdout == "verify-release: VERIFIED plain 2.0.0 (vendor.example/plain/2.0.0) file src/auth.c\n")
        let misnamed = try verifyRelease(["--proof", proof, "--trust", release.trust, "--path", "src/main.c", renamed.path])
        #expect(misnamed.status == 1)
        // A relative path that ends with the proven path passes.
        let relative = try verifyRelease(["--proof", proof, "--trust", release.trust, "src/auth.c"], in: tree)
        #expect(relative.status == 0, "\(relative.stdout)\(relative.stderr)")
    }

    /// An unsigned commit with the signed tree is not the signed release.
    @Test func theSignedCommitIsBound() throws {
        let release = try SignedRelease()
        let clone = try temporaryDirectory("clone").appendingPathComponent("plain.git")
        #expect(try run("git", ["clone", "-q", "--bare", release.repo.path, clone.path]).status == 0)
        let tree = try run("git", ["-C", clone.path, "rev-parse", "v2.0.0^{tree}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let signed = try run("git", ["-C", clone.path, "rev-parse", "v2.0.0^{commit}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let made = try run("git", ["-C", clone.path, "-c", "user.name=m", "-c", "user.email=m@x", "commit-tree", tree, "-m", "unsigned"])
        let unsigned = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(made.status == 0 && unsigned.count == 40)
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", clone.path, "--rev", unsigned])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("✗ commit-mismatch \(unsigned): the manifest signs commit \(signed), but \(unsigned) is commit \(unsigned)"))
        let good = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", clone.path])
        #expect(good.status == 0, "\(good.stdout)")
    }

    /// Names and origins compare as bytes: NFD is not NFC. Dates parse strictly.
    @Test func trustDecisionsCompareBytes() throws {
        let nfc = "vendor.example/caf\u{E9}"
        let nfd = "vendor.example/cafe\u{301}"
        #expect(nfc == nfd, "Swift calls them equal; the policy must not")
        let release = try SignedRelease(signers: [])
        // An ECDSA key (its key ID ignores the name) trusted under the NFC name, signing under the NFD one.
        let vkey = try String(contentsOfFile: release.key("b.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let nfcKey = nfc + "+" + vkey.split(separator: "+", maxSplits: 1)[1]
        #expect(try glassbox("sign", "--key", release.key("b.key"), "--name", nfd, release.manifest).status == 0)
        let policy = release.dir.appendingPathComponent("nfc").path
        try Data("glassbox-trust v1\nthreshold 1\nkey \(nfcKey)\n".utf8).write(to: URL(fileURLWithPath: policy))
        let byName = try verifyRelease(["--manifest", release.manifest, "--trust", policy, "--repo", release.repo.path])
        #expect(byName.status == 1, "\(byName.stdout)")
        #expect(byName.stdout.contains("threshold-not-met"))
        // An origin pattern in NFC does not admit an origin in NFD.
        let manifest = release.dir.appendingPathComponent("nfd.manifest").path
        #expect(try glassbox("manifest", "--repo", release.repo.path, "--rev", "v2.0.0", "--origin", "\(nfd)/2", "-o", manifest).status == 0)
        #expect(try glassbox("sign", "--key", release.key("a.key"), manifest).status == 0)
        let avkey = try String(contentsOfFile: release.key("a.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        try Data("glassbox-trust v1\nthreshold 1\nkey \(avkey) origins=\(nfc)/*\n".utf8).write(to: URL(fileURLWithPath: policy))
        let byOrigin = try verifyRelease(["--manifest", manifest, "--trust", policy, "--repo", release.repo.path])
        #expect(byOrigin.status == 1, "\(byOrigin.stdout)")
        #expect(byOrigin.stdout.contains("key-not-allowed-for-origin"))
        for date in ["+999-01-01", "9999-02-31", "2026-+1-01", "2026-1-01", "2026-02-29", "0000-01-01", "２０２６-01-01"] {
            try Data("glassbox-trust v1\nthreshold 1\nkey \(avkey) not-after=\(date)\n".utf8).write(to: URL(fileURLWithPath: policy))
            let result = try verifyRelease(["--manifest", manifest, "--trust", policy, "--repo", release.repo.path])
            #expect(result.status == 2, "\(date) accepted")
            #expect(result.stderr.contains("is not a date YYYY-MM-DD"))
        }
        try Data("glassbox-trust v1\nthreshold 1\nkey \(avkey) not-after=2400-02-29\n".utf8).write(to: URL(fileURLWithPath: policy))
        #expect(try verifyRelease(["--manifest", manifest, "--trust", policy, "--repo", release.repo.path]).status == 0)
    }

    /// Signatures, policy and root are checked before the tree is touched: an untrusted
    /// manifest fails at once, and the revision read is the one the signed note names.
    @Test func signaturesAreCheckedBeforeTheTreeIsRead() throws {
        let release = try SignedRelease(signers: ["a"])
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--dir", "/nonexistent/tree"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("✗ threshold-not-met"))
        #expect(result.stdout.contains("tree-not-read"))
        #expect(result.stdout.contains("checked    nothing beyond the manifest"))
        // An edited entry line breaks the root before any tree is read.
        let signed = try SignedRelease()
        var text = try String(contentsOfFile: signed.manifest, encoding: .utf8)
        text = text.replacingOccurrences(of: " src/auth.c\n", with: " src/auth.C\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: signed.manifest))
        let edited = try verifyRelease(["--manifest", signed.manifest, "--trust", signed.trust, "--repo", "/nonexistent/repo"])
        #expect(edited.status == 1, "\(edited.stdout)\(edited.stderr)")
        #expect(edited.stdout.contains("✗ root-mismatch"))
    }
}

/// `.git` in a reviewed tree: only the root's own is skipped (and said so); any other is an
/// extra that fails; a submodule checkout is compared by its HEAD; artifacts skip nothing.
@Suite struct NestedGitVerificationTests {
    @Test func nestedGitFailsAndTheRootsOwnIsNamed() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try Data("[core]\n".utf8).write(to: tree.appendingPathComponent(".git/config"))
        let clean = try release.verifyDirectory(tree)
        #expect(clean.status == 0, "\(clean.stdout)")
        #expect(clean.stdout.contains("· root-git-skipped .git: the tree's own .git was skipped"))
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("src/.git"), withIntermediateDirectories: true)
        try Data("int backdoor;\n".utf8).write(to: tree.appendingPathComponent("src/.git/evil.c"))
        let nested = try release.verifyDirectory(tree)
        #expect(nested.status == 1, "\(nested.stdout)")
        #expect(nested.stdout.contains("✗ nested-git src/.git: a .git below the tree's root is not part of the release"))
    }

    @Test func gitInAnArtifactDirectoryIsUnlisted() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        try FileManager.default.createDirectory(at: release.artifacts.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try Data("x\n".utf8).write(to: release.artifacts.appendingPathComponent(".git/payload"))
        let result = try release.verifyDirectory(tree)
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("✗ unlisted .git: a .git entry in the artifact directory"))
    }

    /// A reviewer's `git clone --recursive` verifies: the submodule's checkout is compared by the
    /// commit its HEAD names, and a checkout at another commit fails.
    @Test func aRecursiveCloneIsComparedByItsSubmoduleHead() throws {
        let base = try temporaryDirectory()
        let lib = base.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        try Data("int lib(void) { return 1; }\n".utf8).write(to: lib.appendingPathComponent("lib.c"))
        try git(["init", "-q", "."], in: lib)
        try git(["add", "-A"], in: lib)
        try git(["commit", "-q", "-m", "lib"], in: lib)
        let project = base.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: project.appendingPathComponent("README"))
        try git(["init", "-q", "."], in: project)
        try git(["submodule", "add", "-q", lib.path, "vendor/lib"], in: project)
        try git(["add", "-A"], in: project)
        try git(["commit", "-q", "-m", "project"], in: project)
        let key = base.appendingPathComponent("k").path
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", key).status == 0)
        let manifest = base.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--repo", project.path, "--rev", "HEAD", "--origin", "vendor.example/p/1", "-o", manifest).status == 0)
        #expect(try glassbox("sign", "--key", key + ".key", manifest).status == 0)
        let trust = base.appendingPathComponent("trust").path
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", trust, key + ".pub").status == 0)
        let clone = base.appendingPathComponent("clone")
        try git(["clone", "-q", "--recursive", project.path, clone.path], in: base)
        let good = try verifyRelease(["--manifest", manifest, "--trust", trust, "--dir", clone.path])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("· submodule-checkout vendor/lib: a checkout of the submodule, compared by the commit its HEAD names"))
        #expect(good.stdout.contains("its 1 file are not checked by this manifest"))
        // The submodule moved on in the review copy: the pin no longer matches.
        try Data("int lib(void) { return 2; }\n".utf8).write(to: clone.appendingPathComponent("vendor/lib/lib.c"))
        try git(["commit", "-q", "-am", "moved"], in: clone.appendingPathComponent("vendor/lib"))
        let moved = try verifyRelease(["--manifest", manifest, "--trust", trust, "--dir", clone.path])
        #expect(moved.status == 1, "\(moved.stdout)")
        #expect(moved.stdout.contains("✗ submodule-moved vendor/lib"))
    }
}

/// Inputs that are read whole are size-checked first: a huge (sparse) policy or proof is refused
/// at once, never read into memory.
@Suite struct BoundedReadTests {
    @Test func hugeTrustAndProofFilesAreRefusedBeforeReading() throws {
        let release = try SignedRelease()
        let huge = release.dir.appendingPathComponent("huge")
        #expect(FileManager.default.createFile(atPath: huge.path, contents: nil))
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 3 << 30)   // 3 GiB, sparse: nothing on disk
        try handle.close()
        let trust = try verifyRelease(["--manifest", release.manifest, "--trust", huge.path, "--repo", release.repo.path])
        #expect(trust.status == 2)
        #expect(trust.stderr.contains("\(huge.path): is 3221225472 bytes; at most 1048576 are read"))
        let proof = try verifyRelease(["--proof", huge.path, "--trust", release.trust, huge.path])
        #expect(proof.status == 2)
        #expect(proof.stderr.contains("is 3221225472 bytes; at most"))
    }
}

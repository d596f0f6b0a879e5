import Foundation
import Testing

/// The repositories of `Scripts/make-hostile-repos`, built once per test process.
let hostileRoot: URL = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-e2e-hostile-\(ProcessInfo.processInfo.processIdentifier)")
    let result = try! run("bash", [repositoryRoot.appendingPathComponent("Scripts/make-hostile-repos").path, dir.path])
    precondition(result.status == 0, "make-hostile-repos failed: \(result.stderr)")
    return dir
}()

/// One Ed25519 key and a trust policy that needs its signature alone, made once.
let hostileSigner: (key: String, trust: String) = {
    let dir = try! temporaryDirectory("hostile-signer")
    let key = dir.appendingPathComponent("k")
    let made = try! glassbox("keygen", "--name", "hostile.example/k", "-o", key.path)
    precondition(made.status == 0, "keygen failed: \(made.stderr)")
    let vkey = try! String(contentsOfFile: key.path + ".pub", encoding: .utf8).trimmingCharacters(in: .newlines)
    let trust = dir.appendingPathComponent("trust")
    try! Data("glassbox-trust v1\nthreshold 1\nkey \(vkey)\n".utf8).write(to: trust)
    return (key.path + ".key", trust.path)
}()

private func hostile(_ name: String) -> String { hostileRoot.appendingPathComponent(name).path }

/// A manifest of `name`'s branch main, signed with the hostile signer's key.
private func signedManifest(_ name: String) throws -> String {
    let path = try temporaryDirectory("manifest").appendingPathComponent("\(name).manifest").path
    let made = try glassbox("manifest", "--repo", hostile(name), "--rev", "main", "--origin", "hostile.example/\(name)",
                            "--quiet", "-o", path)
    #expect(made.status == 0, "\(made.stderr)")
    let signed = try glassbox("sign", "--key", hostileSigner.key, path)
    #expect(signed.status == 0, "\(signed.stderr)")
    return path
}

private func verify(_ manifest: String, _ name: String) throws -> Result {
    try verifyRelease(["--manifest", manifest, "--trust", hostileSigner.trust, "--repo", hostile(name), "--rev", "main", "--quiet"])
}

/// The program ended by itself, with one of the exit codes it documents.
private func endedNormally(_ result: Result) -> Bool {
    !result.signalled && [0, 1, 2].contains(result.status)
}

@Suite struct HostileRepoTests {
    /// Repositories whose read must fail: `manifest`, `scan` and `verify-release` each exit 2 with
    /// one `glassbox: error:` line naming the object or path, and never die of a signal.
    @Test(arguments: [
        ("corrupt-pack", "blob for 'src/a.c' (object bad04bf22606a853f66b6e594b4a83f21c008bb9)"),
        ("truncated-pack", "blob for '"),
        ("truncated-idx", "blob for '"),
        ("hostile-idx-with-pack", "blob for '"),
        ("wrong-type-tree", "tree 'notatree' (object 2be3f86188167a8038061cb88dbbd7baef1afcc9): the object is not a tree"),
        ("wrong-type-blob", "blob for 'commit-as-blob' (object 9839becdda072d01c5863a2fad35617d6711f162): the object is not a blob"),
        ("escape-in-name", "blob for 'evil\\x1b[31m\\nname' (object 9839becdda072d01c5863a2fad35617d6711f162)"),
        ("huge-size-loose", "blob for 'huge.bin' (object 8eaf2c5cefcbeddf432407c4ce5be73976ce7d92)"),
        ("huge-size-packed", "blob for 'huge.bin' (object e892d500c9e10dbfde3432bf5ac78c6dbcda4f08)"),
        ("deep-tree", "is 4096 levels deep; paths have at most 4096 levels"),
        ("dag-bomb", "is past the limits of"),
        ("forged-loose", "blob for 'src/a.c' (object bad04bf22606a853f66b6e594b4a83f21c008bb9): object hash mismatch"),
    ])
    func unreadableRepositoriesAreExit2NamingTheObject(name: String, fragment: String) throws {
        let out = try temporaryDirectory("hostile-out").appendingPathComponent("out.manifest")
        // Any signed manifest will do: the read fails before anything is compared.
        let manifest = try signedManifest("clean")
        let results = [
            ("manifest", try glassbox("manifest", "--repo", hostile(name), "--rev", "main", "--quiet", "-o", out.path)),
            ("scan", try glassbox("scan", "--repo", hostile(name), "--rev", "main")),
            ("verify-release", try verify(manifest, name)),
        ]
        for (command, result) in results {
            #expect(endedNormally(result) && result.status == 2,
                    "\(command) on \(name): status \(result.status), signalled \(result.signalled)\n\(result.stderr)")
            #expect(result.stderr.hasPrefix("glassbox: error: "), "\(command) on \(name): \(result.stderr)")
            #expect(result.stderr.contains(fragment), "\(command) on \(name): \(result.stderr)")
            // One line per message: no raw newline or terminal escape from a name gets through.
            #expect(result.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("glassbox: ") }, "\(result.stderr)")
            #expect(!result.stderr.contains("\u{1B}"))
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    /// A 1,032-byte index with a non-monotonic fan-out and no pack (git fsck accepts it) is
    /// ignored, as git ignores it: everything reads exactly like the clean repository.
    @Test func aHostileIndexWithoutItsPackIsIgnored() throws {
        let clean = try glassbox("manifest", "--repo", hostile("clean"), "--rev", "main", "--quiet")
        let read = try glassbox("manifest", "--repo", hostile("hostile-idx"), "--rev", "main", "--quiet")
        #expect(endedNormally(read) && read.status == 0, "\(read.stderr)")
        #expect(entryLines(read.stdout) == entryLines(clean.stdout) && entryLines(clean.stdout).count == 4)
        let scan = try glassbox("scan", "--repo", hostile("hostile-idx"), "--rev", "main")
        #expect(scan.status == 0 && scan.stdout == "glassbox: scan: 0 errors, 0 warnings, 0 notes\n", "\(scan.stdout)\(scan.stderr)")
        // Same commit as the clean repository, so the clean repository's signed manifest verifies.
        let verified = try verify(try signedManifest("clean"), "hostile-idx")
        #expect(verified.status == 0 && verified.stdout.hasPrefix("verify-release: VERIFIED clean "), "\(verified.stdout)\(verified.stderr)")
    }

    /// Odd but legitimate trees read exactly: what the manifest lists, what the scan reports,
    /// and a release signed from them verifies.
    @Test(arguments: [
        // A symlink cycle is two symlinks; nothing follows them.
        ("symlink-cycle", ["link 1 3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d a",   // printf b | sha256sum
                           "link 1 ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb b"],  // printf a | sha256sum
         Int32(0), ["a: symlink-chain: points to 'b', itself a symlink", "b: symlink-chain: points to 'a', itself a symlink"]),
        // A submodule pin of a commit the repository lacks is a pin, which the scan flags.
        ("gitlink-missing", ["submodule - 0123456789abcdef0123456789abcdef01234567 vendor-lib"],
         Int32(0), ["vendor-lib: submodule-missing: the pinned commit is not in this repository"]),
        // A submodule pinning the repository's own previous commit is never followed.
        ("self-gitlink", ["submodule - 3a9f2cd9afac9c45a68a2b2740a11069805202ef self"],
         Int32(0), ["glassbox: scan: 0 errors, 0 warnings, 0 notes"]),
        // Names with invalid UTF-8, a newline, an escape sequence and a C1 control are listed
        // escaped, and the scan calls out the control characters.
        ("hostile-names", ["bad\\xffutf8", "new\\nline", "escape\\x1b[2Jclear", "c1\\xc2\\x85next"].map {
            "file 13 d01735c641350f41bc538cefb37194908c5038208a189ce93b85eba6c19ae728 \($0)"   // printf 'hostile name\n' | sha256sum
         }, Int32(1), ["new\\nline: path-control-character", "escape\\x1b[2Jclear: path-control-character",
                       "c1\\xc2\\x85next: path-control-character"]),
    ])
    func oddButLegitimateTreesReadExactly(name: String, lines: [String], scanStatus: Int32, scanFindings: [String]) throws {
        let read = try glassbox("manifest", "--repo", hostile(name), "--rev", "main", "--quiet")
        #expect(endedNormally(read) && read.status == 0, "\(read.stderr)")
        let entries = entryLines(read.stdout).map(String.init)
        for line in lines { #expect(entries.contains(line), "\(line) in \(entries)") }
        #expect(entries.count == 4 + lines.count)
        let scan = try glassbox("scan", "--repo", hostile(name), "--rev", "main")
        #expect(endedNormally(scan) && scan.status == scanStatus, "\(scan.stdout)\(scan.stderr)")
        for finding in scanFindings { #expect(scan.stdout.contains(finding), "\(scan.stdout)") }
        #expect(!scan.stdout.contains("\u{1B}") && !scan.stderr.contains("\u{1B}"))
        let manifest = try signedManifest(name)
        let verified = try verify(manifest, name)
        if scanStatus == 0 {
            #expect(endedNormally(verified) && verified.status == 0, "\(verified.stdout)\(verified.stderr)")
            #expect(verified.stdout.hasPrefix("verify-release: VERIFIED \(name) "), "\(verified.stdout)")
        } else {
            // Scan errors fail verification by default; the release itself is good, so with the
            // scan kept out of the verdict it verifies, and the first line says what did not count.
            #expect(endedNormally(verified) && verified.status == 1, "\(verified.stdout)\(verified.stderr)")
            #expect(verified.stdout.hasPrefix("verify-release: FAILED \(name) "), "\(verified.stdout)")
            let uncounted = try verifyRelease(["--manifest", manifest, "--trust", hostileSigner.trust, "--repo", hostile(name),
                                               "--rev", "main", "--quiet", "--fail-on", "none"])
            #expect(uncounted.status == 0, "\(uncounted.stdout)\(uncounted.stderr)")
            #expect(uncounted.stdout.hasPrefix("verify-release: VERIFIED (scan not counted: \(scanFindings.count) errors) \(name) "),
                    "\(uncounted.stdout)")
        }
    }
}

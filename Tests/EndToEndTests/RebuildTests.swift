import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The installed version of a Debian package, as the rebuild reads it.
private func installedVersion(_ package: String) throws -> String {
    let result = try run("dpkg-query", ["-W", "-f", "${Version}", package])
    #expect(result.status == 0, "\(package) is not installed: \(result.stderr)")
    return result.stdout
}

/// A small C program in git with a recipe, a vendor key and a 1-of-1 policy. The vendor builds
/// the artifacts with `glassbox rebuild --recipe … --output` and signs them with the tree.
struct RebuildRelease {
    static let program = """
        #include <stdio.h>
        int main(void) { puts("hello, world"); return 0; }

        """
    static let makefile = "$(OUT)/hello: hello.c\n\tgcc -O2 -o $(OUT)/hello hello.c\n"

    let dir: URL
    var repo: URL { dir.appendingPathComponent("vendor") }
    var manifest: String { dir.appendingPathComponent("release.manifest").path }
    var trust: String { dir.appendingPathComponent("trust").path }
    var built: URL { dir.appendingPathComponent("built") }

    /// `recipe` nil: the demo recipe, requiring the gcc-12 installed here.
    init(recipe: String? = nil, files: [String: String] = [:]) throws {
        dir = try temporaryDirectory("rebuild")
        let fm = FileManager.default
        try fm.createDirectory(at: repo.appendingPathComponent("src"), withIntermediateDirectories: true)
        try Data(Self.program.utf8).write(to: repo.appendingPathComponent("src/hello.c"))
        try Data(Self.makefile.utf8).write(to: repo.appendingPathComponent("src/Makefile"))
        let text = try recipe ?? """
            glassbox-recipe v1
            requires gcc-12 \(installedVersion("gcc-12"))
            run make -C src OUT="$OUT"
            artifact hello

            """
        try Data(text.utf8).write(to: repo.appendingPathComponent("recipe"))
        for (path, content) in files { try Data(content.utf8).write(to: repo.appendingPathComponent(path)) }
        try git(["init", "-q"], in: repo)
        try git(["add", "-A"], in: repo)
        try git(["commit", "-q", "-m", "release"], in: repo)
        try git(["tag", "v1.0.0"], in: repo)
        #expect(try glassbox("keygen", "--name", "vendor.example/a", "-o", dir.appendingPathComponent("a").path).status == 0)
        let vkey = try String(contentsOfFile: dir.appendingPathComponent("a.pub").path, encoding: .utf8)
        try Data("glassbox-trust v1\nthreshold 1\nkey \(vkey.trimmingCharacters(in: .newlines))\n".utf8).write(to: URL(fileURLWithPath: trust))
    }

    /// The vendor's build, from the repository or from another tree.
    func vendorBuild(dir tree: URL? = nil, output: URL? = nil) throws -> Result {
        let source = tree.map { ["--dir", $0.path] } ?? ["--repo", repo.path, "--rev", "v1.0.0"]
        return try run(productsDirectory.appendingPathComponent("glassbox").path,
                       ["rebuild"] + source + ["--recipe", "recipe", "--output", (output ?? built).path])
    }

    /// Signs the tree with the artifacts in `artifacts` (default: `built`).
    func sign(artifacts: URL? = nil) throws {
        let made = try glassbox("manifest", "--repo", repo.path, "--rev", "v1.0.0", "--origin", "vendor.example/hello/1.0.0",
                                "--name", "hello", "--recipe", "recipe", "--artifact", (artifacts ?? built).path, "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try glassbox("sign", "--key", dir.appendingPathComponent("a.key").path, manifest).status == 0)
    }

    /// The reviewer's rebuild.
    func rebuild(artifacts: URL? = nil, _ extra: [String] = []) throws -> Result {
        try run(productsDirectory.appendingPathComponent("glassbox").path,
                ["rebuild", "--manifest", manifest, "--trust", trust, "--repo", repo.path,
                 "--artifacts", (artifacts ?? built).path] + extra)
    }
}

/// A TCP listener on 127.0.0.1, on a port the system picks; counts the connections it accepted.
private final class Listener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(fd, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Accepts every pending connection and says how many there were.
    func acceptPending() -> Int {
        var count = 0
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return count }
            close(client)
            count += 1
        }
    }
}

@Suite(.serialized) struct RebuildTests {
    @Test func anHonestReleaseIsRebuiltBitForBit() throws {
        let release = try RebuildRelease()
        let built = try release.vendorBuild()
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        #expect(built.stdout.contains("built hello "), "\(built.stdout)")
        try release.sign()
        let manifest = try String(contentsOfFile: release.manifest, encoding: .utf8)
        #expect(manifest.contains("\nrecipe recipe\nartifact "), "\(manifest)")
        // inspect names the recipe, as text and JSON.
        let inspected = try glassbox("inspect", release.manifest)
        #expect(inspected.stdout.contains("\nrecipe      recipe (glassbox rebuild builds the artifacts from it)\n"), "\(inspected.stdout)")
        let inspectedJSON = try glassbox("inspect", "--json", release.manifest)
        #expect(try jsonSchemaErrors(inspectedJSON.stdoutBytes, schema: repositoryRoot.appendingPathComponent("Manifests/schemas/inspect.v1.schema.json")).isEmpty)
        #expect((try JSONSerialization.jsonObject(with: inspectedJSON.stdoutBytes) as? [String: Any])?["recipe"] as? String == "recipe")
        // The page of Python reads the recipe line too.
        let reference = try run("python3", [repositoryRoot.appendingPathComponent("Scripts/reference-verify.py").path, "root", release.manifest])
        #expect(reference.status == 0, "\(reference.stdout)\(reference.stderr)")

        let started = Date()
        let result = try release.rebuild()
        let rebuildSeconds = Date().timeIntervalSince(started)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("glassbox: rebuild: REPRODUCED hello 1.0.0 (vendor.example/hello/1.0.0): 1 artifact bit for bit\n"), "\(result.stdout)")
        #expect(result.stdout.contains("✓ hello: reproduced"), "\(result.stdout)")

        let json = try release.rebuild(["--json"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as! [String: Any]
        #expect(object["reproduced"] as? Bool == true)
        let schema = repositoryRoot.appendingPathComponent("Manifests/schemas/rebuild.v1.schema.json")
        let errors = try jsonSchemaErrors(json.stdoutBytes, schema: schema)
        #expect(errors.isEmpty, "\(errors)")
        let artifact = (object["artifacts"] as! [[String: Any]]).first { $0["name"] as? String == "hello" }!
        #expect(artifact["status"] as? String == "reproduced")
        #expect(artifact["signedSHA256"] as? String == artifact["rebuiltSHA256"] as? String)

        // What the sandbox costs: the same build with plain make on the host.
        let plain = try temporaryDirectory("plain-make")
        let copied = try run("cp", ["-R", release.repo.appendingPathComponent("src").path, plain.path])
        #expect(copied.status == 0)
        let makeStarted = Date()
        #expect(try run("make", ["-C", plain.appendingPathComponent("src").path, "OUT=\(plain.path)"]).status == 0)
        let makeSeconds = Date().timeIntervalSince(makeStarted)
        print("rebuild timing: glassbox rebuild \(String(format: "%.3f", rebuildSeconds)) s (verify, write tree, sandbox, compare), "
              + "plain make \(String(format: "%.3f", makeSeconds)) s, ratio \(String(format: "%.1f", rebuildSeconds / makeSeconds))")
    }

    @Test func aBinaryBuiltFromABackdooredCopyIsCaught() throws {
        let release = try RebuildRelease()
        // The vendor ships a binary built from other source than it signs.
        let evil = try temporaryDirectory("backdoor")
        #expect(try run("cp", ["-R", release.repo.appendingPathComponent("src").path, release.repo.appendingPathComponent("recipe").path, evil.path]).status == 0)
        try Data("""
            #include <stdio.h>
            #include <string.h>
            int main(int argc, char **argv) { if (argc > 1 && !strcmp(argv[1], "--debug-root")) return 42; puts("hello, world"); return 0; }

            """.utf8).write(to: evil.appendingPathComponent("src/hello.c"))
        // A plain directory has no commit time to take SOURCE_DATE_EPOCH from.
        let recipe = try String(contentsOf: evil.appendingPathComponent("recipe"), encoding: .utf8)
        try Data((recipe + "source-date-epoch 1700000000\n").utf8).write(to: evil.appendingPathComponent("recipe"))
        let shipped = release.dir.appendingPathComponent("shipped")
        let built = try release.vendorBuild(dir: evil, output: shipped)
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        try release.sign(artifacts: shipped)

        let result = try release.rebuild(artifacts: shipped)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("glassbox: rebuild: NOT REPRODUCED hello 1.0.0 (vendor.example/hello/1.0.0): 1 of 1 artifact\n"), "\(result.stdout)")
        #expect(result.stdout.contains("✗ hello: differs\n"), "\(result.stdout)")
        #expect(!result.stdout.contains("\u{1B}"), "no colour off a terminal")
        let coloured = try release.rebuild(artifacts: shipped, ["--color", "always"])
        #expect(coloured.stdout.hasPrefix("\u{1B}[31mglassbox: rebuild: NOT REPRODUCED hello 1.0.0"), "\(coloured.stdout)")
        #expect(coloured.stdout.components(separatedBy: "\u{1B}[").count == 3, "only the verdict line is coloured")
        let shippedDigest = try run("sha256sum", [shipped.appendingPathComponent("hello").path]).stdout.prefix(64)
        #expect(result.stdout.contains("    signed   ") && result.stdout.contains("sha256 \(shippedDigest)\n"), "\(result.stdout)")
        #expect(result.stdout.contains("    rebuilt  "), "\(result.stdout)")
        #expect(result.stdout.contains("    first difference at byte "), "\(result.stdout)")
        if ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").contains(where: {
            FileManager.default.isExecutableFile(atPath: "\($0)/diffoscope")
        }) == true {
            #expect(result.stdout.contains("    diffoscope:\n"), "\(result.stdout)")
        }
    }

    @Test func theRebuildSignsAnAttestationThatVerifyReleaseCounts() throws {
        let release = try RebuildRelease()
        #expect(try release.vendorBuild().status == 0)
        try release.sign()
        for name in ["r1", "r2"] {
            #expect(try glassbox("keygen", "--name", "\(name).example/key", "-o", release.dir.appendingPathComponent(name).path).status == 0)
        }
        // Two centers rebuild and attest; the policy needs both.
        var attestations: [String] = []
        for name in ["r1", "r2"] {
            let file = release.dir.appendingPathComponent("\(name).rebuild").path
            let result = try release.rebuild(artifacts: nil, ["--attest", release.dir.appendingPathComponent("\(name).key").path, "-o", file])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("rebuild attestation written to \(file) as \(name).example/key"), "\(result.stderr)")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.hasPrefix("glassbox-rebuild v1\norigin vendor.example/hello/1.0.0\n"), "\(text)")
            #expect(text.contains("requires gcc-12 \(try installedVersion("gcc-12"))\n"), "\(text)")
            #expect(text.contains(" reproduced hello\n"), "\(text)")
            attestations.append(file)
        }
        var policy = try String(contentsOfFile: release.trust, encoding: .utf8)
        for name in ["r1", "r2"] {
            policy += "rebuilder " + (try String(contentsOfFile: release.dir.appendingPathComponent("\(name).pub").path, encoding: .utf8))
        }
        policy += "rebuild-threshold 2\n"
        try Data(policy.utf8).write(to: URL(fileURLWithPath: release.trust))
        func verify(_ files: [String]) throws -> Result {
            try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path,
                               "--artifacts", release.built.path] + files.flatMap { ["--rebuild-attestation", $0] })
        }
        let one = try verify([attestations[0]])
        #expect(one.status == 1 && one.stdout.contains("rebuild-threshold-not-met"), "\(one.stdout)")
        let both = try verify(attestations)
        #expect(both.status == 0, "\(both.stdout)\(both.stderr)")
    }

    @Test func aFailedRebuildIsAttestedToo() throws {
        let release = try RebuildRelease()
        #expect(try release.vendorBuild().status == 0)
        // The shipped binary is not what the source builds.
        try Data("not the program".utf8).write(to: release.built.appendingPathComponent("hello"))
        try release.sign()
        #expect(try glassbox("keygen", "--name", "r1.example/key", "-o", release.dir.appendingPathComponent("r1").path).status == 0)
        let file = release.dir.appendingPathComponent("r1.rebuild").path
        let result = try release.rebuild(artifacts: nil, ["--attest", release.dir.appendingPathComponent("r1.key").path, "-o", file])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains(" differs hello\n"), "\(text)")
        // -o without --attest is the vendor side's output directory: refused with --manifest.
        #expect(try release.rebuild(artifacts: nil, ["-o", file]).status == 64)
    }

    @Test func diffoscopesReportIsIncludedWhenItIsOnPath() throws {
        // A stand-in diffoscope that prints its arguments and exits 1, as diffoscope does when
        // the files differ.
        let release = try RebuildRelease(recipe: "glassbox-recipe v1\nrun echo rebuilt > \"$OUT/a\"\nartifact a\n")
        let shipped = release.dir.appendingPathComponent("shipped")
        try FileManager.default.createDirectory(at: shipped, withIntermediateDirectories: true)
        try Data("shipped\n".utf8).write(to: shipped.appendingPathComponent("a"))
        try release.sign(artifacts: shipped)
        let tools = release.dir.appendingPathComponent("tools")
        try FileManager.default.createDirectory(at: tools, withIntermediateDirectories: true)
        let fake = tools.appendingPathComponent("diffoscope")
        try Data("#!/bin/sh\necho \"--- fake diffoscope $*\"\nprintf '│ -%s\\n│ +%s\\n' \"$(cat \"$7\")\" \"$(cat \"$8\")\"\nexit 1\n".utf8).write(to: fake)
        #expect(chmod(fake.path, 0o755) == 0)
        let result = try run("env", ["PATH=\(tools.path):/usr/bin:/bin", productsDirectory.appendingPathComponent("glassbox").path,
                                     "rebuild", "--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path,
                                     "--artifacts", shipped.path])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        // diffoscope reads the two files glassbox holds open and compared, by descriptor,
        // never by a name the build or anyone else could have changed since.
        #expect(result.stdout.contains("    diffoscope:\n      --- fake diffoscope --text - --max-report-size 0 --max-diff-block-lines 0 /proc/"),
                "\(result.stdout)")
        #expect(!result.stdout.contains(shipped.path), "\(result.stdout)")
        #expect(result.stdout.contains("      │ -shipped\n      │ +rebuilt\n"), "\(result.stdout)")
    }

    @Test func aDateInTheOutputIsExplainedAsATimestamp() throws {
        let release = try RebuildRelease(recipe: """
            glassbox-recipe v1
            run echo "built $(date)" > "$OUT/stamp"
            artifact stamp

            """)
        // The vendor's build ran at another time.
        let shipped = release.dir.appendingPathComponent("shipped")
        try FileManager.default.createDirectory(at: shipped, withIntermediateDirectories: true)
        try Data("built Thu Jan  1 00:00:00 UTC 1970\n".utf8).write(to: shipped.appendingPathComponent("stamp"))
        try release.sign(artifacts: shipped)
        let result = try release.rebuild(artifacts: shipped)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("✗ stamp: differs"), "\(result.stdout)")
        #expect(result.stdout.contains("    likely cause: a timestamp or date string"), "\(result.stdout)")
        #expect(result.stdout.contains("    first difference at byte "), "\(result.stdout)")
    }

    @Test func theBuildReachesNoNetworkNotEvenTheHostsLoopback() throws {
        let listener = try Listener()
        let connect = "bash -c 'echo hello > /dev/tcp/127.0.0.1/\(listener.port)'"
        // The same command outside the sandbox does connect: the check below can fail.
        #expect(try run("bash", ["-c", connect]).status == 0)
        #expect(listener.acceptPending() == 1)

        let release = try RebuildRelease(recipe: "glassbox-recipe v1\nrun \(connect)\nartifact hello\n")
        let result = try release.vendorBuild()
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("glassbox: error: recipe:2: 'run \(connect)' exited with status 1"), "\(result.stderr)")
        usleep(200_000)
        #expect(listener.acceptPending() == 0)
    }

    @Test func theBuildWritesNothingOutsideBuild() throws {
        let escape = "/tmp/escape"
        try? FileManager.default.removeItem(atPath: escape)
        let release = try RebuildRelease(recipe: """
            glassbox-recipe v1
            run echo escaped > /tmp/escape && cp /tmp/escape "$OUT/seen"
            run ! echo x > /etc/escape 2>/dev/null && ! echo x > /usr/escape 2>/dev/null
            run grep -q "^CapEff:[[:space:]]*0000000000000000$" /proc/self/status
            artifact seen

            """)
        let result = try release.vendorBuild()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The write happened, inside the sandbox: its /tmp is the build's own.
        #expect(try String(contentsOf: release.built.appendingPathComponent("seen"), encoding: .utf8) == "escaped\n")
        #expect(!FileManager.default.fileExists(atPath: escape))
        #expect(!FileManager.default.fileExists(atPath: "/etc/escape"))
        #expect(!FileManager.default.fileExists(atPath: "/usr/escape"))
    }

    @Test func theBuildInheritsNoOpenDescriptor() throws {
        // An open file of whoever runs glassbox (here the trust file, on descriptor 7) must not
        // reach the build, where /proc/self/fd/7 would open it again.
        let release = try RebuildRelease(recipe: "glassbox-recipe v1\nrun ls /proc/self/fd > \"$OUT/fds\"\nartifact fds\n")
        let glassbox = productsDirectory.appendingPathComponent("glassbox").path
        let result = try run("bash", ["-c", "exec 7<\"$1\"; exec \"$2\" rebuild --repo \"$3\" --rev v1.0.0 --recipe recipe --output \"$4\"",
                                      "bash", release.trust, glassbox, release.repo.path, release.built.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // 0, 1, 2, and the directory ls reads.
        #expect(try String(contentsOf: release.built.appendingPathComponent("fds"), encoding: .utf8) == "0\n1\n2\n3\n")
    }

    @Test func theBuildIsBoundedInTimeAndSize() throws {
        let slow = try RebuildRelease(recipe: "glassbox-recipe v1\nrun (sleep 30; touch \"$OUT/late\") & sleep 30\nartifact a\n")
        let started = Date()
        let stopped = try run(productsDirectory.appendingPathComponent("glassbox").path,
                              ["rebuild", "--repo", slow.repo.path, "--recipe", "recipe", "--output", slow.built.path, "--timeout", "2"])
        #expect(stopped.status == 2)
        #expect(stopped.stderr.contains("recipe:2: the build ran past the time limit of 2 seconds and was stopped"), "\(stopped.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)

        let big = try RebuildRelease(recipe: "glassbox-recipe v1\nrun head -c 3000000 /dev/zero > \"$OUT/a\"\nartifact a\n")
        let refused = try run(productsDirectory.appendingPathComponent("glassbox").path,
                              ["rebuild", "--repo", big.repo.path, "--recipe", "recipe", "--output", big.built.path, "--max-output", "1000000"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("recipe:2: the build was stopped by its limits: it filled the build file system"), "\(refused.stderr)")
        #expect(refused.stderr.contains("; 'run head -c 3000000 /dev/zero > \"$OUT/a\"' exited with status 1"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: big.built.appendingPathComponent("a").path))
    }

    @Test func aWrongPackageVersionCannotBeRebuiltHere() throws {
        let installed = try installedVersion("gcc-12")
        let release = try RebuildRelease(recipe: """
            glassbox-recipe v1
            requires gcc-12 1.0-1
            run make -C src OUT="$OUT"
            artifact hello

            """)
        let result = try release.vendorBuild()
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("glassbox: error: recipe:2: requires gcc-12 1.0-1, but version \(installed) is installed\n"), "\(result.stderr)")

        let missing = try RebuildRelease(recipe: "glassbox-recipe v1\nrequires glassbox-no-such-package 1.0\nrun true\nartifact a\n")
        let absent = try missing.vendorBuild()
        #expect(absent.status == 2)
        #expect(absent.stderr.contains("recipe:2: requires glassbox-no-such-package 1.0, but glassbox-no-such-package is not installed"), "\(absent.stderr)")
    }

    @Test func badRecipesAndFailingLinesAreNamedByLine() throws {
        let unknown = try RebuildRelease(recipe: "glassbox-recipe v1\nrun true\nfetch http://example.com/x\nartifact a\n")
        let refused = try unknown.vendorBuild()
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("glassbox: error: recipe:3: unknown line 'fetch'"), "\(refused.stderr)")
        // glassbox manifest refuses it too: a signed recipe parses.
        let made = try glassbox("manifest", "--repo", unknown.repo.path, "--recipe", "recipe", "-o", unknown.manifest)
        #expect(made.status == 2)
        #expect(made.stderr.contains("recipe:3: unknown line 'fetch'"), "\(made.stderr)")

        let failing = try RebuildRelease(recipe: "glassbox-recipe v1\nrun true\nrun echo broken >&2; exit 3\nartifact a\n")
        let failed = try failing.vendorBuild()
        #expect(failed.status == 2)
        #expect(failed.stderr.contains("recipe:3: 'run echo broken >&2; exit 3' exited with status 3; its last output:\nbroken\n"), "\(failed.stderr)")

        let unwritten = try RebuildRelease(recipe: "glassbox-recipe v1\nrun touch \"$OUT/other\"\nartifact a\n")
        let missing = try unwritten.vendorBuild()
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("✗ a: the recipe names it (line 3), but the build did not write it"), "\(missing.stdout)")
        #expect(missing.stdout.contains("✗ other: written to $OUT, but the recipe names no such artifact"), "\(missing.stdout)")
    }

    @Test func theReviewerBuildsOnlyTheVerifiedTree() throws {
        // A file in the reviewer's checkout that the release does not hold never reaches the
        // build: the recipe fails if it sees it.
        let release = try RebuildRelease(recipe: """
            glassbox-recipe v1
            run test ! -e extra && cp src/hello.c "$OUT/hello.c"
            artifact hello.c

            """)
        let shipped = release.dir.appendingPathComponent("shipped")
        try FileManager.default.createDirectory(at: shipped, withIntermediateDirectories: true)
        try Data(RebuildRelease.program.utf8).write(to: shipped.appendingPathComponent("hello.c"))
        try release.sign(artifacts: shipped)
        let checkout = try unpackArchive(release.repo, "v1.0.0")
        try Data("x".utf8).write(to: checkout.appendingPathComponent("extra"))
        let result = try run(productsDirectory.appendingPathComponent("glassbox").path,
                             ["rebuild", "--manifest", release.manifest, "--trust", release.trust, "--dir", checkout.path,
                              "--artifacts", shipped.path])
        // The extra file fails verification before anything is built.
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("the release does not verify; nothing was rebuilt"), "\(result.stderr)")
        try FileManager.default.removeItem(at: checkout.appendingPathComponent("extra"))
        // Without a commit to take the time from, the recipe must fix SOURCE_DATE_EPOCH.
        let noEpoch = try run(productsDirectory.appendingPathComponent("glassbox").path,
                              ["rebuild", "--manifest", release.manifest, "--trust", release.trust, "--dir", checkout.path,
                               "--artifacts", shipped.path])
        #expect(noEpoch.status == 2, "\(noEpoch.stdout)\(noEpoch.stderr)")
        #expect(noEpoch.stderr.contains("no SOURCE_DATE_EPOCH"), "\(noEpoch.stderr)")
        let fromRepo = try release.rebuild(artifacts: shipped)
        #expect(fromRepo.status == 0, "\(fromRepo.stdout)\(fromRepo.stderr)")
    }
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A file outside the sandbox that no build may read or write, watched with inotify (and its
/// access time, set far in the past so any read moves it). The directory is world-readable, so
/// a build run as nobody that reached the host's file system could read it.
private final class Canary {
    let dir: URL
    var secret: URL { dir.appendingPathComponent("secret") }
    let events: URL
    /// inotifywait's process id (started through a shell, holding none of this process's descriptors).
    private let watcher: pid_t
    /// The events file's length once the watch was seen working: what follows is news.
    private var baseline = 0

    init() throws {
        dir = URL(fileURLWithPath: "/tmp/glassbox-canary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o777)
        let secretFile = dir.appendingPathComponent("secret")
        try Data("the host's secret\n".utf8).write(to: secretFile)
        chmod(secretFile.path, 0o666)
        let touched = try run("touch", ["-a", "-d", "2001-01-01", secretFile.path])
        events = URL(fileURLWithPath: dir.path + ".events")
        // Every descriptor above 2 closed first: Foundation's Process watches one to see its
        // child end, and a watcher holding it would keep `run` waiting.
        let started = try run("bash", ["-c", """
            ( for f in /proc/$BASHPID/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
              exec inotifywait -m -r -q --format '%w%f %e' -o "$1" "$2" </dev/null >/dev/null 2>&1 ) & echo $!
            """, "bash", events.path, dir.path])
        watcher = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // The watch is live once it reports a probe.
        let probe = dir.appendingPathComponent("probe")
        for _ in 0..<200 {
            try Data().write(to: probe)
            if let seen = try? String(contentsOf: events, encoding: .utf8), seen.contains("probe") { break }
            usleep(50_000)
        }
        try FileManager.default.removeItem(at: probe)
        #expect(touched.status == 0)
        usleep(300_000)
        baseline = (try? Data(contentsOf: events))?.count ?? 0
        #expect(baseline > 0, "inotifywait reports nothing")
    }

    /// Every event on the canary since the watch started (the probe's aside), and the secret's
    /// access time as a date.
    func seen() throws -> (events: String, accessed: String, files: [String]) {
        usleep(300_000)
        let text = String(decoding: ((try? Data(contentsOf: events)) ?? Data()).dropFirst(baseline), as: UTF8.self)
        let accessed = try run("stat", ["-c", "%x", secret.path]).stdout
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return (text, accessed, files)
    }

    deinit {
        // SIGKILL: the test process may pass SIGTERM on blocked.
        if watcher > 0 { kill(watcher, SIGKILL) }
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.removeItem(at: events)
    }
}

/// `glassbox rebuild --dir TREE --recipe recipe --output OUT`, as root or as nobody (uid and
/// gid 65534, no groups: `setpriv`), with a tree and output directory nobody may use.
private func vendorBuild(recipe: String, as user: String, extra: [String] = []) throws -> (Result, URL) {
    let dir = try temporaryDirectory("sandbox-\(user)")
    chmod(dir.path, 0o777)
    let tree = dir.appendingPathComponent("tree")
    try FileManager.default.createDirectory(at: tree.appendingPathComponent("src"), withIntermediateDirectories: true)
    try Data(RebuildRelease.program.utf8).write(to: tree.appendingPathComponent("src/hello.c"))
    try Data(RebuildRelease.makefile.utf8).write(to: tree.appendingPathComponent("src/Makefile"))
    try Data(recipe.utf8).write(to: tree.appendingPathComponent("recipe"))
    let out = dir.appendingPathComponent("out")
    let glassbox = productsDirectory.appendingPathComponent("glassbox").path
    let arguments = ["rebuild", "--dir", tree.path, "--recipe", "recipe", "--output", out.path] + extra
    if user == "nobody" {
        #expect(try run("chown", ["-R", "65534:65534", dir.path]).status == 0)
        return (try run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "env", "TMPDIR=\(dir.path)", glassbox] + arguments), out)
    }
    return (try run(glassbox, arguments), out)
}

@Suite(.serialized) struct RebuildSandboxTests {
    /// A run line that swaps a directory a later sandbox would bind (the issue's /build/tmp
    /// for a symlink to /, and /build/home and the working directory too) gains nothing:
    /// every mount is made once, before the first line, from names only glassbox made.
    @Test(arguments: ["root", "nobody"]) func aBuildCannotSteerTheSandboxToTheHostsFiles(user: String) throws {
        let canary = try Canary()
        let path = canary.secret.path
        let (result, out) = try vendorBuild(recipe: """
            glassbox-recipe v1
            source-date-epoch 1700000000
            run rm -rf /build/tmp /build/home && ln -s / /build/tmp && ln -s / /build/home
            run cd /build && mv src src.old && ln -s / src
            run cat /tmp\(path) /build/home\(path) /build/src\(path) \(path) > /build/leak 2>/dev/null || true
            run echo written > /tmp\(canary.dir.path)/written 2>/dev/null || true; echo written > /build/home\(canary.dir.path)/written 2>/dev/null || true
            run touch /tmp\(path) /build/src\(path) 2>/dev/null || true
            run ! ln /etc/ld.so.cache /build/hardlink 2>/dev/null && ! ln /usr/bin/sh /build/hardlink 2>/dev/null
            run ! echo x > /dev/glassbox-escape 2>/dev/null
            run cat /build/leak > "$OUT/leak"
            artifact leak

            """, as: user)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // Nothing of the host reached the build: the leak is empty.
        #expect((try? Data(contentsOf: out.appendingPathComponent("leak")))?.isEmpty == true, "\(result.stdout)")
        let seen = try canary.seen()
        #expect(seen.events.isEmpty, "the canary was touched: \(seen.events)")
        #expect(seen.accessed.hasPrefix("2001-01-01"), "the canary was read: \(seen.accessed)")
        #expect(seen.files == ["secret"], "\(seen.files)")
        #expect(!FileManager.default.fileExists(atPath: "/dev/glassbox-escape"))
    }

    /// The issue's example: the build replaces /build/out with a symlink to where the shipped
    /// binary lies, so the host would compare the signed binary with itself.
    @Test func aSymlinkedOutIsRefusedAndNothingIsAttested() throws {
        let release = try RebuildRelease(recipe: "glassbox-recipe v1\nrun true\nartifact hello\n")
        try FileManager.default.createDirectory(at: release.built, withIntermediateDirectories: true)
        try Data("a binary built from other source\n".utf8).write(to: release.built.appendingPathComponent("hello"))
        let recipe = "glassbox-recipe v1\nrun rm -rf \"$OUT\" && ln -s \(release.built.path) \"$OUT\"\nartifact hello\n"
        try Data(recipe.utf8).write(to: release.repo.appendingPathComponent("recipe"))
        try git(["commit", "-q", "-a", "-m", "swap"], in: release.repo)
        try git(["tag", "-f", "v1.0.0"], in: release.repo)
        try release.sign()
        #expect(try glassbox("keygen", "--name", "r1.example/key", "-o", release.dir.appendingPathComponent("r1").path).status == 0)
        let file = release.dir.appendingPathComponent("r1.rebuild").path
        let result = try release.rebuild(artifacts: nil, ["--attest", release.dir.appendingPathComponent("r1.key").path, "-o", file])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("REPRODUCED"), "\(result.stdout)")
        #expect(result.stderr.contains("glassbox: error: recipe: the build replaced $OUT: /build/out is now a symlink"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: file), "no attestation of a build that was not read")
    }

    /// The vendor's side: a symlinked $OUT would have `--output` copy a host file into dist/.
    @Test(arguments: ["root", "nobody"]) func theVendorsOutputCopiesNoHostFile(user: String) throws {
        let canary = try Canary()
        let (result, out) = try vendorBuild(recipe: """
            glassbox-recipe v1
            source-date-epoch 1700000000
            run rm -rf "$OUT" && ln -s \(canary.dir.path) "$OUT"
            artifact secret

            """, as: user)
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("the build replaced $OUT: /build/out is now a symlink"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("secret").path))
        let seen = try canary.seen()
        #expect(seen.events.isEmpty, "the canary was touched: \(seen.events)")
    }

    /// Variants: $OUT moved away and replaced by another directory between lines, a symlink
    /// inside $OUT pointing out, a fifo in $OUT (which a reader would block on).
    @Test func outIsReadOnlyAsTheDirectoryMadeForIt() throws {
        let (moved, _) = try vendorBuild(recipe: """
            glassbox-recipe v1
            source-date-epoch 1700000000
            run echo built > "$OUT/a"
            run mv "$OUT" /build/elsewhere && mkdir "$OUT" && echo other > "$OUT/a"
            artifact a

            """, as: "root")
        #expect(moved.status == 2, "\(moved.stdout)\(moved.stderr)")
        #expect(moved.stderr.contains("the build replaced $OUT: /build/out is now another directory"), "\(moved.stderr)")

        let canary = try Canary()
        let (linked, out) = try vendorBuild(recipe: "glassbox-recipe v1\nsource-date-epoch 1\nrun ln -s \(canary.secret.path) \"$OUT/secret\"\nartifact secret\n", as: "root")
        #expect(linked.status == 1, "\(linked.stdout)\(linked.stderr)")
        #expect(linked.stdout.contains("✗ secret: the recipe names it (line 4), but the build did not write it"), "\(linked.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("secret").path))
        #expect(try canary.seen().events.isEmpty)

        let (fifo, _) = try vendorBuild(recipe: "glassbox-recipe v1\nsource-date-epoch 1\nrun mkfifo \"$OUT/a\"\nartifact a\n", as: "root")
        #expect(fifo.status == 2, "\(fifo.stdout)\(fifo.stderr)")
        #expect(fifo.stderr.contains("glassbox: error: recipe: the build wrote what cannot be read as an artifact: $OUT/a: is a fifo"), "\(fifo.stderr)")
    }

    /// The limit holds during the build, wherever the build writes: /dev/shm, a file deleted
    /// before the line ends, below a path longer than PATH_MAX; and empty files count.
    @Test(arguments: ["root", "nobody"]) func theBuildIsBoundedWhileItRuns(user: String) throws {
        let cases: [(String, [String])] = [
            // Each file below the limit, so only a limit on the whole holds them.
            ("head -c 1500000 /dev/zero > /dev/shm/a; head -c 1500000 /dev/zero > /dev/shm/b", ["--max-output", "2000000"]),
            ("head -c 1500000 /dev/zero > /build/a; head -c 1500000 /dev/zero > /build/b; rm /build/a /build/b", ["--max-output", "2000000"]),
            // perl's chdir is the system call: a shell would refuse a $PWD longer than PATH_MAX.
            ("perl -e 'for (1..30) { mkdir \"d\" x 200 or die; chdir \"d\" x 200 or die } for my $f (\"a\", \"b\") { open(F, \">$f\") or die; print F \"x\" x 1500000 or die; close(F) or die \"full\" }'",
             ["--max-output", "2000000"]),
            ("i=0; while [ $i -lt 3000 ]; do : > /build/empty$i; i=$((i + 1)); done", ["--max-files", "1000"]),
        ]
        for (line, limit) in cases {
            let (result, _) = try vendorBuild(recipe: "glassbox-recipe v1\nsource-date-epoch 1\nrun \(line)\nrun touch \"$OUT/a\"\nartifact a\n",
                                              as: user, extra: limit)
            #expect(result.status == 2, "\(line): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("glassbox: error: recipe:3: the build was stopped by its limits: it filled the build file system"),
                    "\(line): \(result.stderr)")
            #expect(result.stderr.contains("glassbox: hint: allow more with --max-output BYTES or --max-files COUNT"), "\(result.stderr)")
        }
        // Within the limits the same build passes: the limit is what stopped it.
        let (fits, _) = try vendorBuild(recipe: "glassbox-recipe v1\nsource-date-epoch 1\nrun head -c 300000 /dev/zero > /dev/shm/x\nrun touch \"$OUT/a\"\nartifact a\n",
                                        as: user, extra: ["--max-output", "2000000"])
        #expect(fits.status == 0, "\(fits.stdout)\(fits.stderr)")
    }

    /// The issue's example: the recipe rebuilds only a README, and the signed binary is never
    /// rebuilt. That is not a reproduction; accepting it takes an option the verdict names.
    @Test func aRebuildOfLessThanEverySignedArtifactIsNotReproduced() throws {
        let release = try RebuildRelease(recipe: "glassbox-recipe v1\nrun cp README \"$OUT/README\"\nartifact README\n",
                                         files: ["README": "hello\n"])
        try FileManager.default.createDirectory(at: release.built, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: release.built.appendingPathComponent("README"))
        try Data("a binary nobody rebuilt\n".utf8).write(to: release.built.appendingPathComponent("hello"))
        try release.sign()

        let result = try release.rebuild()
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("glassbox: rebuild: NOT REPRODUCED hello 1.0.0 (vendor.example/hello/1.0.0): 1 of 2 artifacts (1 signed but not rebuilt)\n"),
                "\(result.stdout)")
        #expect(result.stdout.contains("✗ hello: signed, but the recipe does not build it: not reproduced\n"), "\(result.stdout)")
        let json = try JSONSerialization.jsonObject(with: try release.rebuild(["--json"]).stdoutBytes) as! [String: Any]
        #expect(json["reproduced"] as? Bool == false)

        let partial = try release.rebuild(["--allow-not-rebuilt-unsafe"])
        #expect(partial.status == 0, "\(partial.stdout)\(partial.stderr)")
        #expect(partial.stdout.hasPrefix("glassbox: rebuild: PARTLY REPRODUCED (--allow-not-rebuilt-unsafe) hello 1.0.0 (vendor.example/hello/1.0.0): 1 of 2 signed artifacts bit for bit, 1 not rebuilt and not checked\n"),
                "\(partial.stdout)")
        let partialJSON = try release.rebuild(["--allow-not-rebuilt-unsafe", "--json"])
        #expect(try jsonSchemaErrors(partialJSON.stdoutBytes, schema: repositoryRoot.appendingPathComponent("Manifests/schemas/rebuild.v1.schema.json")).isEmpty)
        let object = try JSONSerialization.jsonObject(with: partialJSON.stdoutBytes) as! [String: Any]
        #expect(object["reproduced"] as? Bool == false && object["partlyReproducedUnsafe"] as? Bool == true)
        // The attestation does not claim the binary: it is listed as missing.
        #expect(try glassbox("keygen", "--name", "r1.example/key", "-o", release.dir.appendingPathComponent("r1").path).status == 0)
        let file = release.dir.appendingPathComponent("r1.rebuild").path
        let attested = try release.rebuild(artifacts: nil, ["--allow-not-rebuilt-unsafe", "--attest", release.dir.appendingPathComponent("r1.key").path, "-o", file])
        #expect(attested.status == 0, "\(attested.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains(" missing differs hello\n") && text.contains(" reproduced README\n"), "\(text)")
        // The option belongs to the reviewer's side only.
        #expect(try run(productsDirectory.appendingPathComponent("glassbox").path,
                        ["rebuild", "--repo", release.repo.path, "--recipe", "recipe", "--output", release.dir.appendingPathComponent("x").path,
                         "--allow-not-rebuilt-unsafe"]).status == 64)
    }
}

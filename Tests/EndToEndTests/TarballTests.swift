import Foundation
import Testing

/// A reviewer with the vendor's tarball: read as it is, never unpacked.
@Suite struct TarballTests {
    /// `git archive --prefix=NAME/ TAG | gzip`, as vendors ship it.
    private func tarball(_ release: SignedRelease, _ name: String = "plain-2.0.0") throws -> URL {
        let out = release.dir.appendingPathComponent("\(name).tar.gz")
        let made = try run("sh", ["-c", "git -C '\(release.repo.path)' archive --prefix=\(name)/ v2.0.0 | gzip -n > '\(out.path)'"])
        #expect(made.status == 0, "\(made.stderr)")
        return out
    }

    /// Re-packs a tarball after `change` edits its unpacked tree.
    private func repack(_ source: URL, _ change: (URL) throws -> Void) throws -> URL {
        let work = try temporaryDirectory("repack")
        #expect(try run("tar", ["-xzf", source.path, "-C", work.path]).status == 0)
        try change(work)
        let out = work.appendingPathComponent("changed.tar.gz")
        #expect(try run("sh", ["-c", "cd '\(work.path)' && tar --sort=name -czf '\(out.path)' plain-2.0.0"]).status == 0)
        return out
    }

    @Test func theVendorsTarballVerifiesAsItIs() throws {
        let release = try SignedRelease()
        let archive = try tarball(release)
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", archive.path,
                                        "--artifacts", release.artifacts.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checked    tarball \(archive.path) (top-level directory plain-2.0.0/ stripped)"))
        // The same entries as the unpacked tree gives.
        let fromTar = try glassbox("manifest", "--tarball", archive.path, "--origin", "x/1")
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let fromDir = try glassbox("manifest", "--dir", tree.path, "--origin", "x/1")
        #expect(fromTar.status == 0 && fromDir.status == 0, "\(fromTar.stderr)")
        #expect(entryLines(fromTar.stdout) == entryLines(fromDir.stdout))
        #expect(fromTar.stdout.contains("\nname plain-2.0.0\n"))
        #expect(try glassbox("scan", "--tarball", archive.path).status == 0)
    }

    @Test func aChangedByteInsideTheTarballIsNamed() throws {
        let release = try SignedRelease()
        let changed = try repack(try tarball(release)) { tree in
            let file = tree.appendingPathComponent("plain-2.0.0/src/auth.c")
            var data = try Data(contentsOf: file)
            data[3] ^= 0x01
            try data.write(to: file)
        }
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", changed.path])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("✗ modified src/auth.c: content differs"))
    }

    @Test func filesOnlyInTheTarballAreReportedAsGenerated() throws {
        let release = try SignedRelease()
        let changed = try repack(try tarball(release)) { tree in
            try Data("#!/bin/sh\necho generated\n".utf8).write(to: tree.appendingPathComponent("plain-2.0.0/configure"))
        }
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", changed.path])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("✗ generated configure: generated (not in the source tree): only in the tarball"))
    }

    /// Each hostile archive is refused with exit 2, naming the entry.
    @Test(arguments: [("twice", "plain-2.0.0/src/auth.c"), ("dotdot", "../x"), ("absolute", "/etc/x"),
                      ("hardlink", "plain-2.0.0/link"), ("device", "plain-2.0.0/dev"), ("fifo", "plain-2.0.0/fifo"),
                      ("gitdir", "plain-2.0.0/.git/config")])
    func aHostileTarballIsRefusedNamingTheEntry(kind: String, entry: String) throws {
        let release = try SignedRelease()
        let hostile = release.dir.appendingPathComponent("\(kind).tar")
        let script = """
        import io, tarfile, sys
        kind, path = sys.argv[2], sys.argv[3]
        with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
            def add(name, body=b"x\\n", type=tarfile.REGTYPE, link=""):
                info = tarfile.TarInfo(name); info.type = type; info.linkname = link
                info.size = len(body) if type == tarfile.REGTYPE else 0
                t.addfile(info, io.BytesIO(body) if type == tarfile.REGTYPE else None)
            add("plain-2.0.0/README")
            if kind == "twice": add(path, b"good\\n"); add(path, b"evil\\n")
            elif kind == "hardlink": add(path, type=tarfile.LNKTYPE, link="plain-2.0.0/README")
            elif kind == "device": add(path, type=tarfile.CHRTYPE)
            elif kind == "fifo": add(path, type=tarfile.FIFOTYPE)
            else: add(path)
        """
        let made = try run("python3", ["-c", script, hostile.path, kind, entry])
        #expect(made.status == 0, "\(made.stderr)")
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", hostile.path])
        #expect(result.status == 2, "\(kind): \(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains(entry), "\(kind): \(result.stderr)")
        let manifest = try glassbox("manifest", "--tarball", hostile.path)
        #expect(manifest.status == 2)
    }

    /// The top-level directory stripped from every path is checked by the path rules, whatever
    /// the scan options: no manifest lists it, and `tar -x` writes it. Before, a release whose
    /// only top directory was `.GIT` verified, and on a case-insensitive file system unpacked
    /// as a git directory. The honest name still verifies.
    @Test(arguments: [".GIT", "GIT~1"])
    func aTopLevelGitLookalikeIsRefused(top: String) throws {
        let release = try SignedRelease()
        let archive = try tarball(release, top)
        for extra in [[], ["--skip-scan-unsafe"]] {
            let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", archive.path] + extra)
            #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("\(top): the top-level directory stripped from every path is refused"), "\(result.stderr)")
            #expect(result.stderr.contains("path-git-lookalike"))
        }
        #expect(try glassbox("manifest", "--tarball", archive.path).status == 2)
        #expect(try glassbox("scan", "--tarball", archive.path).status == 2)
    }

    /// A tarball with data behind its gzip member is refused (exit 2) by every command that
    /// reads one, naming the framing; GNU tar's own output in pax format verifies.
    @Test func compressionFramingIsChecked() throws {
        let release = try SignedRelease()
        let honest = try tarball(release)
        let framed = release.dir.appendingPathComponent("framed.tar.gz")
        #expect(try run("sh", ["-c", "cat '\(honest.path)' '\(honest.path)' > '\(framed.path)'"]).status == 0)
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", framed.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("data after the end of its gzip stream"), "\(result.stderr)")
        let work = try temporaryDirectory("pax")
        #expect(try run("tar", ["-xzf", honest.path, "-C", work.path]).status == 0)
        let pax = work.appendingPathComponent("pax.tar.gz")
        #expect(try run("sh", ["-c", "cd '\(work.path)' && tar --format=pax --sort=name -czf '\(pax.path)' plain-2.0.0"]).status == 0)
        let verified = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", pax.path,
                                          "--artifacts", release.artifacts.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }

    @Test func stripComponentsGoesWithTarball() throws {
        let release = try SignedRelease()
        let usage = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--dir", ".", "--strip-components", "1"])
        #expect(usage.status == 64)
    }
}

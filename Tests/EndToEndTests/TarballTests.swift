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

    @Test func aHostileTarballIsRefusedNamingTheEntry() throws {
        let release = try SignedRelease()
        let hostile = release.dir.appendingPathComponent("twice.tar")
        let script = """
        import io, tarfile, sys
        with tarfile.open(sys.argv[1], "w", format=tarfile.USTAR_FORMAT) as t:
            for body in (b"good\\n", b"evil\\n"):
                info = tarfile.TarInfo("plain-2.0.0/src/auth.c"); info.size = len(body)
                t.addfile(info, io.BytesIO(body))
        """
        #expect(try run("python3", ["-c", script, hostile.path]).status == 0)
        let result = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--tarball", hostile.path])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("plain-2.0.0/src/auth.c"))
        let usage = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--dir", ".", "--strip-components", "1"])
        #expect(usage.status == 64)
    }
}

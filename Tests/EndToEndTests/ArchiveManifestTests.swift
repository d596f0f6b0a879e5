import Foundation
import Testing

/// `glassbox manifest --archive`: the manifest of exactly what `git archive` writes, checked
/// against real git archive output read three ways, and verified from the repository too.
@Suite struct ArchiveManifestTests {
    /// Scripts/make-archive-fixture's repository using every attribute git archive applies.
    private static let fixture: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-e2e-archive-\(ProcessInfo.processInfo.processIdentifier)")
        let result = try! run("bash", [repositoryRoot.appendingPathComponent("Scripts/make-archive-fixture").path, dir.path])
        precondition(result.status == 0, "make-archive-fixture failed: \(result.stderr)")
        return dir.appendingPathComponent("archive")
    }()

    private func rootLine(_ manifest: String) -> Substring { manifest.split(separator: "\n")[2] }

    @Test func theArchiveManifestIsWhatGitArchiveWrites() throws {
        let base = try temporaryDirectory()
        let repo = Self.fixture.path
        let manifest = base.appendingPathComponent("archive.manifest").path
        let made = try glassbox("manifest", "--repo", repo, "--rev", "v1.0", "--archive", "--origin", "vendor.example/archive/1.0", "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        #expect(text.contains("\nsource git-archive\n"))
        // The reference: real git archive, with no configuration of the reviewer's.
        let tarball = base.appendingPathComponent("archive-1.0.tar.gz")
        let archived = try run("sh", ["-c", "git -c core.autocrlf=false -C '\(repo)' archive --prefix=archive-1.0/ v1.0 | gzip -n > '\(tarball.path)'"])
        #expect(archived.status == 0, "\(archived.stderr)")
        let unpacked = base.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        #expect(try run("tar", ["-xzf", tarball.path, "-C", unpacked.path]).status == 0)
        let fromDir = try glassbox("manifest", "--dir", unpacked.appendingPathComponent("archive-1.0").path, "--origin", "x/1")
        let fromTar = try glassbox("manifest", "--tarball", tarball.path, "--origin", "x/1")
        #expect(fromDir.status == 0 && fromTar.status == 0, "\(fromDir.stderr)\(fromTar.stderr)")
        #expect(rootLine(text) == rootLine(fromDir.stdout))
        #expect(rootLine(text) == rootLine(fromTar.stdout))
        #expect(entryLines(text) == entryLines(fromDir.stdout))
        // Without --archive the stored blobs differ from what git archive wrote.
        let plain = try glassbox("manifest", "--repo", repo, "--rev", "v1.0", "--origin", "x/1")
        #expect(rootLine(plain.stdout) != rootLine(fromDir.stdout))

        // Signed, it verifies from the repository, the tarball and the unpacked tree alike.
        let key = base.appendingPathComponent("k").path
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", key).status == 0)
        #expect(try glassbox("sign", "--key", key + ".key", manifest).status == 0)
        let trust = base.appendingPathComponent("trust").path
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", trust, key + ".pub").status == 0)
        for tree in [["--repo", repo], ["--tarball", tarball.path], ["--dir", unpacked.appendingPathComponent("archive-1.0").path]] {
            let result = try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe"] + tree)
            #expect(result.status == 0, "\(tree): \(result.stdout)\(result.stderr)")
        }
        #expect(try glassbox("check", manifest, "--repo", repo).status == 0)
    }

    /// A manifest made with --archive once still verified after one of these was set in the
    /// repository, though git archive of the signed commit then wrote another tree. Each is now
    /// refused, naming the setting and where it is set; without it the manifest verifies.
    @Test func aSettingThatChangesGitArchiveIsRefusedByName() throws {
        let base = try temporaryDirectory()
        let repo = base.appendingPathComponent("archive")
        try FileManager.default.copyItem(at: Self.fixture, to: repo)
        let manifest = base.appendingPathComponent("archive.manifest").path
        #expect(try glassbox("manifest", "--repo", repo.path, "--rev", "v1.0", "--archive", "--origin", "vendor.example/archive/1.0", "-o", manifest).status == 0)
        let key = base.appendingPathComponent("k").path
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", key).status == 0)
        #expect(try glassbox("sign", "--key", key + ".key", manifest).status == 0)
        let trust = base.appendingPathComponent("trust").path
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", trust, key + ".pub").status == 0)
        let verify = { try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe", "--repo", repo.path]) }
        #expect(try verify().status == 0)
        let info = repo.appendingPathComponent(".git/info/attributes")
        let attributesFile = base.appendingPathComponent("attributes")
        try Data("*.txt eol=crlf\n".utf8).write(to: attributesFile)
        for (key, value, named) in [("info", "* export-ignore\n", "$GIT_DIR/info/attributes"),
                                    ("core.attributesFile", attributesFile.path, "core.attributesFile="),
                                    ("core.ignorecase", "true", "core.ignorecase=true"), ("core.autocrlf", "true", "core.autocrlf=true"),
                                    ("core.eol", "crlf", "core.eol=crlf")] {
            if key == "info" { try Data(value.utf8).write(to: info) } else { try git(["config", key, value], in: repo) }
            let refused = try verify()
            #expect(refused.status == 2, "\(key): \(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("glassbox: error: ") && refused.stderr.contains(named), "\(key): \(refused.stderr)")
            #expect(refused.stderr.contains("glassbox: hint: --archive stands for what `git archive` writes here"), "\(refused.stderr)")
            #expect(try glassbox("manifest", "--repo", repo.path, "--rev", "v1.0", "--archive", "--origin", "x/1").status == 2)
            if key == "info" { try FileManager.default.removeItem(at: info) } else { try git(["config", "--unset", key], in: repo) }
            #expect(try verify().status == 0)
        }
    }

    @Test func archiveGoesWithRepo() throws {
        let result = try glassbox("manifest", "--dir", ".", "--archive")
        #expect(result.status == 64)
    }
}

import Foundation
import Testing

/// A tree that differs from a git-objects manifest only as `git archive` makes it differ: the
/// findings still fail, and each names the attributes line that explains it.
@Suite struct ExplainTests {
    @Test func archiveDifferencesNameTheirAttributeLines() throws {
        let base = try temporaryDirectory()
        let repo = base.appendingPathComponent("project")
        let files: [(String, String)] = [
            (".gitattributes", "*.bat text eol=crlf\nversion.h ident\ninternal/ export-ignore\nVERSION export-subst\n"),
            ("run.bat", "@echo off\necho hi\n"),
            ("version.h", "/* $Id$ */\n"),
            ("internal/notes.txt", "not shipped\n"),
            ("VERSION", "$Format:%h$\n"),
            ("src/main.c", "int main(void) { return 0; }\n"),
        ]
        for (path, text) in files {
            let url = repo.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let lib = base.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        try Data("lib\n".utf8).write(to: lib.appendingPathComponent("lib.c"))
        try git(["init", "-q", "."], in: lib)
        try git(["add", "-A"], in: lib)
        try git(["commit", "-q", "-m", "lib"], in: lib)
        try git(["init", "-q", "."], in: repo)
        try git(["submodule", "add", "-q", lib.path, "vendor/lib"], in: repo)
        try git(["add", "-A"], in: repo)
        try git(["commit", "-q", "-m", "release"], in: repo)
        let key = base.appendingPathComponent("k").path
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", key).status == 0)
        let manifest = base.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--repo", repo.path, "--rev", "HEAD", "--origin", "vendor.example/p/1", "-o", manifest).status == 0)
        #expect(try glassbox("sign", "--key", key + ".key", manifest).status == 0)
        let trust = base.appendingPathComponent("trust").path
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", trust, key + ".pub").status == 0)
        let archive = base.appendingPathComponent("p.tar")
        try git(["archive", "--prefix=p-1/", "-o", archive.path, "HEAD"], in: repo)
        let unpacked = base.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        #expect(try run("tar", ["-xf", archive.path, "-C", unpacked.path]).status == 0)

        let directory = try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe", "--dir",
                                           unpacked.appendingPathComponent("p-1").path])
        #expect(directory.stdout.contains("✗ missing vendor/lib: listed as submodule but absent; explained: git archive writes a submodule as an empty directory"))
        #expect(directory.stdout.contains("· archive-hint: 5 differences are what git archive"))
        for arguments in [["--dir", unpacked.appendingPathComponent("p-1").path], ["--tarball", archive.path]] {
            let result = try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe"] + arguments)
            #expect(result.status == 1, "\(result.stdout)")
            #expect(result.stdout.contains("✗ modified run.bat: content differs"))
            #expect(result.stdout.contains("explained: the bytes are the signed ones as .gitattributes:1 *.bat eol=crlf makes git archive or a checkout write them"))
            #expect(result.stdout.contains("✗ modified version.h"))
            #expect(result.stdout.contains(".gitattributes:2 version.h ident makes git archive"))
            #expect(result.stdout.contains("✗ missing internal/notes.txt: listed as file but absent; explained: .gitattributes:3 internal/ export-ignore makes git archive leave it out"))
            #expect(result.stdout.contains("✗ modified VERSION"))
            #expect(result.stdout.contains("possibly explained: .gitattributes:4 VERSION export-subst"))
            #expect(result.stdout.contains("differences are what git archive or a checkout makes of the signed tree"))
            #expect(result.stdout.contains("--archive"))
        }
        // The directory above the release: said so.
        let above = try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe", "--dir", unpacked.path])
        #expect(above.status == 1)
        #expect(!above.stdout.contains("give --dir"), "the archive's tree differs, so the subdirectory does not hold exactly the listed paths")
        let copy = base.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        #expect(try run("git", ["clone", "-q", repo.path, copy.appendingPathComponent("checkout").path]).status == 0)
        try FileManager.default.removeItem(at: copy.appendingPathComponent("checkout/.git"))
        let nested = try verifyRelease(["--manifest", manifest, "--trust", trust, "--skip-scan-unsafe", "--dir", copy.path])
        #expect(nested.status == 1)
        #expect(nested.stdout.contains("· archive-hint checkout: the directory holds one subdirectory, checkout, whose paths are exactly the listed ones: give --dir \(copy.path)/checkout"))
    }
}

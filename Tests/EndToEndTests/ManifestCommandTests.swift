import Foundation
import Testing

@Suite struct ManifestCommandTests {
    @Test func manifestRoundTripsThroughInspectAndCheck() throws {
        let dir = try temporaryDirectory()
        let manifest = dir.appendingPathComponent("sample.manifest").path
        let made = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0",
                                "--origin", "example.com/sample/1.0.0", "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.isEmpty)

        let inspected = try glassbox("inspect", manifest)
        #expect(inspected.status == 0)
        #expect(inspected.stdout.contains("release     sample 1.0.0"))
        #expect(inspected.stdout.contains("entries     22 (file 18, exec 1, link 2, submodule 1)"))
        let json = try glassbox("inspect", "--json", manifest)
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as! [String: Any]
        #expect(object["mediaType"] as? String == "application/vnd.glassbox.inspect.v1+json")
        #expect(object["entries"] as? Int == 22)
        #expect((object["source"] as? [String: Any])?["tag"] as? String == "v1.0.0")

        let fromRepo = try glassbox("check", manifest, "--repo", sample.path)
        #expect(fromRepo.status == 0, "\(fromRepo.stdout)\(fromRepo.stderr)")
        #expect(fromRepo.stdout.contains("matches"))
        let fromDirectory = try glassbox("check", manifest, "--dir", try unpackArchive(sample, "v1.0.0").path)
        // git archive writes no submodule content, so only the pin is missing.
        #expect(fromDirectory.status == 1)
        #expect(fromDirectory.stdout.contains("missing (1):\n  vendor/lib\n"))
    }

    @Test func sameInputGivesByteIdenticalOutput() throws {
        let a = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.1.0")
        let b = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.1.0", "--workers", "1")
        let c = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.1.0", "--workers", "7")
        #expect(a.status == 0)
        #expect(a.stdoutBytes == b.stdoutBytes && b.stdoutBytes == c.stdoutBytes)
        #expect(a.stdout.hasPrefix("sample/1.1.0\n"))
    }

    @Test func gitRevisionAndGitArchiveHaveTheSameEntriesAndRoot() throws {
        let tree = try unpackArchive(sample, "v1.0.0")
        try FileManager.default.removeItem(at: tree.appendingPathComponent("vendor/lib"))
        // Without the submodule (git archive cannot carry one) the two agree exactly.
        let rev = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0")
        let dir = try glassbox("manifest", "--dir", tree.path)
        let revEntries = entryLines(rev.stdout).filter { !$0.hasPrefix("submodule ") }
        #expect(revEntries == entryLines(dir.stdout))
    }

    @Test func theProjectsOwnHeadEqualsItsGitArchive() throws {
        guard try run("git", ["-C", repositoryRoot.path, "rev-parse", "HEAD"]).status == 0 else {
            Issue.record("the project is not a git checkout with a HEAD")
            return
        }
        let tree = try unpackArchive(repositoryRoot, "HEAD")
        let rev = try glassbox("manifest", "--repo", repositoryRoot.path, "--rev", "HEAD")
        let dir = try glassbox("manifest", "--dir", tree.path)
        #expect(rev.status == 0 && dir.status == 0, "\(rev.stderr)\(dir.stderr)")
        let revLines = rev.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let dirLines = dir.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(revLines[1] == dirLines[1], "count")
        #expect(revLines[2] == dirLines[2], "root")
        #expect(entryLines(rev.stdout) == entryLines(dir.stdout))
        #expect(entryLines(rev.stdout).count > 20)
    }

    @Test func tamperingInADirectoryIsNamedPathByPath() throws {
        let dir = try temporaryDirectory()
        let manifest = dir.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0", "-o", manifest).status == 0)
        let tree = try unpackArchive(sample, "v1.0.0")
        let fm = FileManager.default
        let main = tree.appendingPathComponent("src/main.c")
        var content = try Data(contentsOf: main)
        content[10] ^= 0x01
        try content.write(to: main)                                                              // one byte changed
        try Data("surprise\n".utf8).write(to: tree.appendingPathComponent("docs/added.txt"))     // a file added
        try fm.removeItem(at: tree.appendingPathComponent("docs/guide.txt"))                      // a file deleted
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree.appendingPathComponent("README.md").path) // chmod +x
        try fm.removeItem(at: tree.appendingPathComponent("docs/readme-link"))
        try fm.createSymbolicLink(atPath: tree.appendingPathComponent("docs/readme-link").path, withDestinationPath: "/etc/shadow") // retargeted

        let checked = try glassbox("check", manifest, "--dir", tree.path)
        #expect(checked.status == 1)
        for expected in ["modified (1):\n  src/main.c", "missing (2):\n  docs/guide.txt\n  vendor/lib",
                         "extra (1):\n  docs/added.txt", "mode-changed (1):\n  README.md  [file → exec]",
                         "retargeted (1):\n  docs/readme-link"] {
            #expect(checked.stdout.contains(expected), "\(expected)\n--- in ---\n\(checked.stdout)")
        }
        #expect(checked.stdout.contains("6 differences"))
    }

    @Test func gitSideDifferencesAreNamedToo() throws {
        let dir = try temporaryDirectory()
        let manifest = dir.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0", "-o", manifest).status == 0)
        let checked = try glassbox("check", manifest, "--repo", sample.path, "--rev", "v1.1.0")
        #expect(checked.status == 1)
        for expected in ["modified (2):\n  logo.png", "  src/main.c", "missing (2):\n  docs/old.txt\n  docs/rename-me.txt",
                         "extra (3):\n  <img src=x onerror=alert(1)>.txt  [file, 30 bytes]\n  docs/new.txt  [file, 14 bytes]\n  docs/renamed.txt", "kind-changed (1):\n  data.bin  [file → link]",
                         "mode-changed (1):\n  Makefile  [file → exec]", "retargeted (1):\n  docs/readme-link",
                         "submodule-moved (1):\n  vendor/lib"] {
            #expect(checked.stdout.contains(expected), "\(expected)\n--- in ---\n\(checked.stdout)")
        }
    }
}

@Suite struct BadInputTests {
    @Test func unknownRevisionIsExit2AndWritesNothing() throws {
        let dir = try temporaryDirectory()
        let out = dir.appendingPathComponent("m").path
        let result = try glassbox("manifest", "--repo", sample.path, "--rev", "v9.9.9", "-o", out)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("glassbox: error: revision 'v9.9.9'"))
        #expect(result.stderr.contains("glassbox: hint:"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "no temporary file left behind")
    }

    @Test func notARepositoryIsExit2() throws {
        let dir = try temporaryDirectory()
        let result = try glassbox("manifest", "--repo", dir.path, "--rev", "HEAD")
        #expect(result.status == 2)
        #expect(result.stderr.contains("is not a git repository"))
    }

    @Test func malformedManifestsAreExit2NamingFileAndLine() throws {
        let dir = try temporaryDirectory()
        let good = try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0").stdout
        var lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.firstIndex(where: { $0.hasPrefix("file ") })!
        let cases: [(String, String)] = [
            ("truncated", String(good.dropLast(10))),
            ("unsorted", { var l = lines; l.swapAt(first, first + 1); return l.joined(separator: "\n") }()),
            ("duplicate", { var l = lines; l.insert(lines[first], at: first); return l.joined(separator: "\n") }()),
            ("count", { var l = lines; l[1] = "23"; return l.joined(separator: "\n") }()),
            ("root", { var l = lines; l[first] = l[first].replacingOccurrences(of: "file 58", with: "file 59"); return l.joined(separator: "\n") }()),
        ]
        lines.removeAll()
        for (name, text) in cases {
            let file = dir.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            for command in [["inspect", file], ["check", file, "--repo", sample.path]] {
                let result = try run(productsDirectory.appendingPathComponent("glassbox").path, command)
                #expect(result.status == 2, "\(name) \(command[0])")
                #expect(result.stderr.hasPrefix("glassbox: error: \(file)"), "\(name): \(result.stderr)")
            }
        }
    }

    @Test func usageErrorsAreExit64() throws {
        #expect(try glassbox("manifest").status == 64)
        #expect(try glassbox("manifest", "--repo", "a", "--dir", "b").status == 64)
        #expect(try glassbox("no-such-command").status == 64)
    }
}

@Suite struct CorpusTests {
    /// A generated corpus (nested directories, binaries, symlinks, executables): parallel and
    /// single-threaded runs give byte-identical manifests, from git and from the checkout.
    @Test func parallelAndSingleThreadedManifestsAreByteIdentical() throws {
        let dir = try temporaryDirectory()
        let corpus = dir.appendingPathComponent("corpus")
        let made = try run("python3", [repositoryRoot.appendingPathComponent("Scripts/make-corpus").path, "3000", corpus.path])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("3000 files"))
        var outputs: [Data] = []
        for workers in ["1", "2", "5"] {
            let git = try glassbox("manifest", "--repo", corpus.path, "--rev", "v1.0.0", "--workers", workers)
            #expect(git.status == 0)
            outputs.append(git.stdoutBytes)
        }
        #expect(Set(outputs).count == 1)
        let one = try glassbox("manifest", "--dir", corpus.path, "--workers", "1")
        let many = try glassbox("manifest", "--dir", corpus.path, "--workers", "4")
        #expect(one.stdoutBytes == many.stdoutBytes)
        #expect(entryLines(one.stdout) == entryLines(String(decoding: outputs[0], as: UTF8.self)))
        #expect(entryLines(one.stdout).count == 3000)
    }
}

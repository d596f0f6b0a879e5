import Foundation
@testable import Glassbox
import GlassboxGit
@testable import GlassboxScan
import Testing

// The attributes rule reports a `.gitattributes` line once, with the files whose bytes it
// changes, and only when it changes some: these tests build small repositories with git and
// hold the scan to what `git archive` (and a checkout, which converts the same way) writes.

/// A repository with `files` committed, then `.gitattributes` files committed after them, so
/// the blobs keep the bytes written (git would convert them on `add` under the attributes).
private func repository(_ files: [String: [UInt8]], attributes: [String: String]) throws -> URL {
    let dir = try temporaryDirectory()
    _ = try git(["init", "-q"], in: dir)
    for (path, content) in files {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content).write(to: url)
    }
    if !files.isEmpty {
        _ = try git(["add", "-A"], in: dir)
        _ = try git(["commit", "-q", "-m", "files"], in: dir)
    }
    for (path, content) in attributes {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
        _ = try git(["add", path], in: dir)
    }
    _ = try git(["commit", "-q", "-m", "attributes", "--allow-empty"], in: dir)
    return dir
}

/// The attribute findings of a scan of HEAD.
private func attributeFindings(_ repo: URL) throws -> [ScanFinding] {
    try scanSource(.git(repository: repo.path, revision: nil), options: ScanOptions(), workers: 2)
        .filter { $0.rule.hasPrefix("gitattributes") }
}

/// What `git archive HEAD` changes or leaves out, as git itself writes it: each blob's path
/// whose archived bytes differ from the blob, or that the archive does not hold.
private func archiveDifferences(_ repo: URL) throws -> Set<String> {
    let out = try temporaryDirectory("archive")
    let tarball = out.appendingPathComponent("a.tar").path
    _ = try git(["-c", "core.autocrlf=false", "-c", "core.eol=lf", "archive", "-o", tarball, "HEAD"], in: repo)
    let result = try run("tar", ["-xf", tarball, "-C", out.path])
    #expect(result.status == 0)
    var different = Set<String>()
    for line in try git(["ls-tree", "-r", "-z", "HEAD"], in: repo).split(separator: "\0") {
        let parts = line.split(separator: "\t", maxSplits: 1)
        let fields = parts[0].split(separator: " ")
        guard fields[1] == "blob" else { continue }
        let path = String(parts[1])
        let written = out.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: written.path) else { different.insert(path); continue }
        if try git(["hash-object", "--no-filters", written.path], in: repo) != fields[2] { different.insert(path) }
    }
    return different
}

private func lf(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct AttributeFindingTests {
    @Test func eolLFAndTextOnLFContentChangeNothing() throws {
        let repo = try repository(["a.sh": lf("echo a\n"), "b.c": lf("int b;\n"), "c.txt": lf("c\n")],
                                  attributes: [".gitattributes": "*.sh text eol=lf\n*.c text\n*.txt crlf=input\n"])
        #expect(try attributeFindings(repo).isEmpty)
    }

    @Test func textAutoEolLFOverAHundredFilesIsNoFinding() throws {
        var files: [String: [UInt8]] = [:]
        for i in 0..<100 { files["src/f\(i).c"] = lf("int f\(i);\n") }
        let repo = try repository(files, attributes: [".gitattributes": "* text=auto eol=lf\n"])
        #expect(try attributeFindings(repo).isEmpty)
        #expect(try archiveDifferences(repo).isEmpty)
    }

    @Test func eolCRLFIsOneFindingForItsLineWithTheFilesItChanges() throws {
        let repo = try repository(["a.bat": lf("@echo a\n"), "b.bat": lf("@echo b\n"), "w/c.bat": lf("@echo c\n"),
                                   "done.bat": lf("@echo d\r\n"), "empty.bat": [],
                                   // text=auto leaves CR-holding and binary-looking files alone.
                                   "mixed.txt": lf("a\r\nb\n"), "blob.txt": [0, 1, 2, 0x0A], "plain.txt": lf("p\n")],
                                  attributes: [".gitattributes": "# Windows scripts\n*.bat text eol=crlf\n*.txt text=auto eol=crlf\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" }
            == ["gitattributes-eol .gitattributes:2 warning", "gitattributes-eol .gitattributes:3 warning"])
        #expect(found[0].paths == ["a.bat", "b.bat", "w/c.bat"])
        #expect(found[0].message.hasPrefix("'eol=crlf' for *.bat: a checkout or git archive writes CRLF line endings into 3 files stored with LF: a.bat, b.bat, w/c.bat"))
        #expect(found[1].paths == ["plain.txt"])
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func identOnlyWhereTheBlobHoldsAnId() throws {
        let repo = try repository(["a.c": lf("/* $Id$ */\nint a;\n"), "b.c": lf("int b; /* $Id: old $ */\n"),
                                   "c.c": lf("int c; /* $Id */\n"), "d.c": lf("int d;\n")],
                                  attributes: [".gitattributes": "*.c ident\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" } == ["gitattributes-filter .gitattributes:1 error"])
        #expect(found.first?.paths == ["a.c", "b.c"])
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func aFilterWithNoDriverIsOneWarningPerLine() throws {
        let repo = try repository(["a.bin": lf("x\n"), "b.bin": lf("y\n"), "c.bin": lf("z\n"), "d/e.dat": lf("e\n"), "f.dat": lf("f\n"),
                                   "keep.dat": lf("k\n")],
                                  attributes: [".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n*.dat filter=lfs\nkeep.dat -filter\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" }
            == ["gitattributes-filter .gitattributes:1 warning", "gitattributes-filter .gitattributes:2 warning"])
        #expect(found.map(\.paths) == [["a.bin", "b.bin", "c.bin"], ["d/e.dat", "f.dat"]])
        #expect(found[0].message.contains("3 files name a filter driver that no tree can define"))
        #expect(found[0].message.contains("the vendor's own checkouts may differ"))
        // With no driver, git writes the stored bytes.
        #expect(try archiveDifferences(repo).isEmpty)
    }

    @Test func aFilterWhoseDriverTheRepositoryConfiguresIsAnError() throws {
        let repo = try repository(["a.dat": lf("a\n"), "b.bin": lf("b\n")],
                                  attributes: [".gitattributes": "*.dat filter=x.y\n*.bin filter=lfs\n"])
        _ = try git(["config", "filter.x.y.smudge", "tr a-z A-Z"], in: repo)
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" }
            == ["gitattributes-filter .gitattributes:1 error", "gitattributes-filter .gitattributes:2 warning"])
        #expect(found.first?.message.contains("the repository's config defines this filter driver: a checkout here runs it on 1 file") == true)
    }

    @Test func exportSubstOnlyWhereFormatAppears() throws {
        let repo = try repository(["VERSION": lf("$Format:%H$\n"), "README": lf("no placeholder\n"), "open": lf("$Format: never closed\n")],
                                  attributes: [".gitattributes": "VERSION export-subst\nREADME export-subst\nopen export-subst\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" } == ["gitattributes-export .gitattributes:1 warning"])
        #expect(found.first?.paths == ["VERSION"])
        #expect(found.first?.message.contains("git archive expands $Format:…$ in 1 file") == true)
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func exportIgnoreSaysWhatTheArchiveLeavesOut() throws {
        let repo = try repository(["tests/a.c": lf("a\n"), "tests/deep/b.c": lf("b\n"), ".github/ci.yml": lf("c\n"),
                                   "secret.h": lf("s\n"), "src/x.c": lf("x\n"), "src/y.c": lf("y\n")],
                                  attributes: [".gitattributes": "tests/ export-ignore\n.github export-ignore\nsecret.h export-ignore\n",
                                               "src/.gitattributes": "y.c export-ignore\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0)" } == [
            "gitattributes-export .gitattributes:1", "gitattributes-export .gitattributes:2",
            "gitattributes-export .gitattributes:3", "gitattributes-export src/.gitattributes:1",
        ])
        #expect(found.map(\.paths) == [["tests/a.c", "tests/deep/b.c"], [".github/ci.yml"], ["secret.h"], ["src/y.c"]])
        #expect(found[0].message.contains("git archive leaves out 2 files"))
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func theNearestLineDecidesAndMacrosNameTheirLine() throws {
        let repo = try repository(["a.w": lf("a\n"), "sub/b.w": lf("b\n"), "sub/c.png": lf("c\n"), "d.png": lf("d\n")],
                                  attributes: [".gitattributes": "[attr]windows text eol=crlf\n*.w windows\n*.png eol=crlf\n*.png binary\n",
                                               "sub/.gitattributes": "b.w -text\n"])
        let found = try attributeFindings(repo)
        // sub/b.w: its own directory's -text wins; *.png: binary (after eol=crlf) unsets text.
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0)" } == ["gitattributes-eol .gitattributes:2"])
        #expect(found.first?.paths == ["a.w"])
        #expect(found.first?.message.hasPrefix("'eol=crlf' (set by macro 'windows') for *.w") == true)
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func attributesAsGitParsesThem() throws {
        // git check-attr eol (git 2.39): a `!eol=crlf` and b `-eol=lf` undo eol=crlf; a line with
        // an invalid name is dropped whole, so c keeps eol=crlf.
        let repo = try repository(["a": lf("a\n"), "b": lf("b\n"), "c": lf("c\n"), "d": lf("d\n")],
                                  attributes: [".gitattributes": "[a-d] eol=crlf\na !eol=crlf\nb -eol=lf\nc eol=lf in/valid\n"])
        let found = try attributeFindings(repo)
        #expect(found.map { "\($0.path):\($0.line ?? 0)" } == [".gitattributes:1"])
        #expect(found.first?.paths == ["c", "d"])
        #expect(Set(found.flatMap(\.paths)) == (try archiveDifferences(repo)))
    }

    @Test func aTreeReadAsFilesGetsOneNotePerLine() throws {
        let root = try temporaryDirectory()
        for (path, content) in [".gitattributes": "* text=auto eol=lf\n*.bat text eol=crlf\n*.bin filter=lfs\n",
                                "a.bat": "@echo a\r\n", "b.bat": "@echo b\n", "x.bin": "x", "c.c": "int c;\n"] {
            try Data(content.utf8).write(to: root.appendingPathComponent(path))
        }
        let found = try scanSource(.directory(root.path), options: ScanOptions(), workers: 1).filter { $0.rule.hasPrefix("gitattributes") }
        #expect(found.map { "\($0.rule) \($0.path):\($0.line ?? 0) \($0.severity)" }
            == ["gitattributes-eol .gitattributes:2 note", "gitattributes-filter .gitattributes:3 warning"])
        #expect(found.map(\.paths) == [["a.bat", "b.bat"], ["x.bin"]])
        #expect(found[0].message.contains("a checkout of the vendor's repository may change 2 files; the bytes checked are the ones read"))
    }

    @Test func theProbeSeesMarkersAcrossChunks() {
        func facts(_ chunks: [String]) -> ConversionFacts {
            var probe = ConversionProbe()
            for chunk in chunks { Array(chunk.utf8).withUnsafeBytes { probe.consume($0) } }
            return probe.finish()
        }
        #expect(facts(["a\r", "\nb"]) == [.carriageReturn])
        #expect(facts(["a\n"]) == [.loneLF])
        #expect(facts(["x $I", "d$ y"]) == [.ident])
        #expect(facts(["$Id: a $"]) == [.ident])
        #expect(facts(["$Id: a\n$"]) == [.loneLF])
        #expect(facts(["$$Format", ":%H", "$"]) == [.formatSubst])
        #expect(facts(["$Format:%H"]) == [])
        #expect(facts(["a\rb"]) == [.carriageReturn, .looksBinary])
        #expect(facts(["a\0\n"]) == [.loneLF, .looksBinary])
    }
}

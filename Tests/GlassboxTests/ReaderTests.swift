import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

@Suite struct GitReaderTests {
    @Test func readsEveryKindAndAwkwardName() throws {
        let snapshot = try GitReader.read(repositoryPath: sampleRepository.path, revision: "v1.0.0")
        let byPath = Dictionary(uniqueKeysWithValues: snapshot.entries.map { ($0.path, $0) })
        #expect(byPath[bytes("src/main.c")]?.kind == .file)
        #expect(byPath[bytes("bin/build.sh")]?.kind == .exec)
        #expect(byPath[bytes("docs/outside-link")]?.kind == .link)
        #expect(byPath[bytes("docs/outside-link")]?.digest == SHA256.hash(bytes("../../../etc/passwd")))
        #expect(byPath[bytes("docs/outside-link")]?.size == 19)
        let lib = try git(["rev-parse", "HEAD~1"], in: fixtureRoot.appendingPathComponent("lib"))
        #expect(byPath[bytes("vendor/lib")].map { hex($0.digest) } == lib)
        #expect(byPath[bytes("vendor/lib")]?.kind == .submodule)
        for name in [bytes("names/new\nline.txt"), bytes("names/back\\slash.txt"), bytes("names/café.txt"),
                     bytes("names/with space.txt"), bytes("names/ leading-space.txt"), bytes("names/trailing-space.txt "),
                     bytes("names/") + [0x62, 0x61, 0x64, 0xFF] + bytes("utf8.txt")] {
            #expect(byPath[name] != nil, "\(Escaping.escape(name))")
        }
        #expect(snapshot.entries.map(\.path) == snapshot.entries.map(\.path).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(snapshot.entries.count == 22)
    }

    @Test func everyRevisionFormResolvesToTheSameTree() throws {
        let repo = sampleRepository.path
        let commit = try git(["rev-parse", "v1.0.0^{commit}"], in: sampleRepository)
        let tagObject = try git(["rev-parse", "v1.0.0"], in: sampleRepository)
        let tagged = try GitReader.read(repositoryPath: repo, revision: "v1.0.0")
        #expect(tagged.revision.commit == commit)
        #expect(tagged.revision.tagName == bytes("v1.0.0"))
        #expect(tagged.revision.tagObject == tagObject)
        #expect(tagged.revision.repositoryName == "sample")
        for rev in [commit, String(commit.prefix(8)), "main~1", "refs/tags/v1.0.0"] {
            let other = try GitReader.read(repositoryPath: repo, revision: rev)
            #expect(other.entries == tagged.entries, "\(rev)")
            #expect(other.revision.commit == commit)
        }
        let plainCommit = try GitReader.read(repositoryPath: repo, revision: commit)
        #expect(plainCommit.revision.tagName == nil && plainCommit.revision.tagObject == nil)
        let light = try GitReader.read(repositoryPath: repo, revision: "v1.1.0-light")
        #expect(light.revision.tagName == bytes("v1.1.0-light") && light.revision.tagObject == nil)
    }

    @Test func parallelAndSingleThreadedReadsAreIdentical() throws {
        let one = try GitReader.read(repositoryPath: sampleRepository.path, revision: "v1.1.0", workers: 1)
        let many = try GitReader.read(repositoryPath: sampleRepository.path, revision: "v1.1.0", workers: 8)
        #expect(one.entries == many.entries)
    }

    @Test func badRevisionsAndRepositoriesAreErrors() throws {
        #expect(throws: GitError.self) { try GitReader.read(repositoryPath: sampleRepository.path, revision: "v9.9.9") }
        let blob = try git(["rev-parse", "v1.0.0:README.md"], in: sampleRepository)
        let error = #expect(throws: GitError.self) { try GitReader.read(repositoryPath: sampleRepository.path, revision: blob) }
        #expect(error?.context.contains("does not name a commit") == true)
        let empty = try temporaryDirectory()
        #expect(throws: GitError.self) { try GitReader.read(repositoryPath: empty.path, revision: "HEAD") }
    }

    /// Trees that git itself would refuse to check out, written with `hash-object --literally`.
    @Test(arguments: [("..", "'.' and '..'"), (".git", "reserved"), ("a/b", "cannot contain '/'"), ("dup", "duplicate")])
    func malformedTreeNamesAreErrors(name: String, fragment: String) throws {
        let dir = try temporaryDirectory()
        _ = try git(["init", "-q", "."], in: dir)
        let blob = try git(["hash-object", "-w", "--stdin"], in: dir)   // empty blob
        var tree = Data()
        let names = name == "dup" ? ["dup", "dup"] : [name]
        for n in names {
            tree.append(contentsOf: bytes("100644 \(n)") + [0])
            tree.append(contentsOf: unhex(blob))
        }
        let treeFile = dir.appendingPathComponent("tree.bin")
        try tree.write(to: treeFile)
        let treeId = try git(["hash-object", "-w", "-t", "tree", "--literally", treeFile.path], in: dir)
        let commit = try git(["commit-tree", treeId, "-m", "bad"], in: dir)
        let error = #expect(throws: GitError.self) { try GitReader.read(repositoryPath: dir.path, revision: commit) }
        #expect(error.map { "\($0)".contains(fragment) } == true, "\(String(describing: error))")
    }

    @Test func corruptAndMissingObjectsAreErrors() throws {
        let dir = try temporaryDirectory()
        _ = try git(["init", "-q", "."], in: dir)
        try Data("original\n".utf8).write(to: dir.appendingPathComponent("f.txt"))
        _ = try git(["add", "f.txt"], in: dir)
        _ = try git(["commit", "-q", "-m", "one"], in: dir)
        let blob = try git(["rev-parse", "HEAD:f.txt"], in: dir)
        let object = dir.appendingPathComponent(".git/objects/\(blob.prefix(2))/\(blob.dropFirst(2))")
        // Replace the object with a well-formed object of other content: only hash verification can tell.
        let other = dir.appendingPathComponent("other")
        _ = try git(["init", "-q", other.path], in: dir)
        try Data("tampered\n".utf8).write(to: other.appendingPathComponent("x"))
        let otherBlob = try git(["hash-object", "-w", "x"], in: other)
        let forged = other.appendingPathComponent(".git/objects/\(otherBlob.prefix(2))/\(otherBlob.dropFirst(2))")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object.path)
        try FileManager.default.removeItem(at: object)
        try FileManager.default.copyItem(at: forged, to: object)
        let corrupt = #expect(throws: GitError.self) { try GitReader.read(repositoryPath: dir.path, revision: "HEAD") }
        #expect(corrupt.map { "\($0)".contains("f.txt") } == true, "\(String(describing: corrupt))")

        try FileManager.default.removeItem(at: object)
        let missing = #expect(throws: GitError.self) { try GitReader.read(repositoryPath: dir.path, revision: "HEAD") }
        #expect(missing.map { "\($0)".contains("f.txt") } == true)
    }
}

@Suite struct DirectoryReaderTests {
    @Test func gitArchiveOfARevisionReadsTheSameEntries() throws {
        let dir = try temporaryDirectory()
        let tar = dir.appendingPathComponent("r.tar")
        _ = try run("git", ["-C", sampleRepository.path, "archive", "-o", tar.path, "v1.0.0"])
        let tree = dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        _ = try run("tar", ["-x", "-f", tar.path, "-C", tree.path])
        let fromDirectory = try DirectoryReader.read(root: tree.path)
        let fromGit = try GitReader.read(repositoryPath: sampleRepository.path, revision: "v1.0.0").entries
        // git archive leaves a submodule as an empty directory, which a tree does not list.
        #expect(fromDirectory == fromGit.filter { $0.kind != .submodule })
        #expect(try DirectoryReader.read(root: tree.path, workers: 1) == fromDirectory)
    }

    @Test func aCheckoutReadsLikeItsRevision() throws {
        // The work tree of the fixture is v1.1.0 checked out; its .git directory is skipped.
        let entries = try DirectoryReader.read(root: sampleRepository.path)
        #expect(!entries.contains { $0.path.starts(with: bytes(".git/")) })
        let fromGit = try GitReader.read(repositoryPath: sampleRepository.path, revision: "v1.1.0").entries
        #expect(entries == fromGit.filter { $0.kind != .submodule })
    }

    @Test func specialFilesAreErrorsNamingThePath() throws {
        let dir = try temporaryDirectory()
        try Data("x".utf8).write(to: dir.appendingPathComponent("ok.txt"))
        #expect(mkfifo(dir.appendingPathComponent("pipe").path, 0o644) == 0)
        let error = #expect(throws: ReadError.self) { try DirectoryReader.read(root: dir.path) }
        #expect(error?.path.hasSuffix("/pipe") == true)
        #expect(error?.message.contains("fifo") == true)
    }

    @Test func unreadableFilesAreErrors() throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("secret")
        try Data("x".utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: file.path)
        if getuid() == 0 {
            // root reads any file, so make it unreadable another way: a dangling directory entry.
            try FileManager.default.removeItem(at: file)
            #expect(throws: ReadError.self) { try DirectoryReader.read(root: file.path) }
            return
        }
        let error = #expect(throws: ReadError.self) { try DirectoryReader.read(root: dir.path) }
        #expect(error?.path.hasSuffix("/secret") == true)
    }
}

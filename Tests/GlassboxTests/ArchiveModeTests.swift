import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

/// Builds the archive fixtures with `Scripts/make-archive-fixture` once per test process.
private let archiveFixtureRoot: URL = {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("glassbox-archive-fixture-\(ProcessInfo.processInfo.processIdentifier)")
    let result = try! run("bash", [repositoryRoot.appendingPathComponent("Scripts/make-archive-fixture").path, dir.path])
    precondition(result.status == 0, "make-archive-fixture failed: \(result.stderr)")
    return dir
}()

private var archiveRepository: URL { archiveFixtureRoot.appendingPathComponent("archive") }

/// No configuration or attributes file from this machine reaches the reference git.
private let isolatedGit = ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ATTR_NOSYSTEM": "1",
                           "XDG_CONFIG_HOME": "/nonexistent-glassbox-config"]

/// The reference: what `git -c core.autocrlf=false archive REV | tar -x` writes, read back as a
/// directory.
private func referenceArchive(_ repository: URL, _ revision: String) throws -> [TreeEntry] {
    let out = try temporaryDirectory("archive-reference")
    defer { try? FileManager.default.removeItem(at: out) }
    let result = try run("bash", ["-c", "set -o pipefail; git -C \"$1\" -c core.autocrlf=false archive \"$2\" | tar -x -C \"$3\"",
                                  "archive", repository.path, revision, out.path], environment: isolatedGit)
    guard result.status == 0 else { throw ReferenceFailure(message: result.stderr) }
    return try DirectoryReader.read(root: out.path)
}

private struct ReferenceFailure: Error { var message: String }

/// Each path whose entry differs between the two lists, or that only one of them has.
private func differences(_ got: [TreeEntry], _ expected: [TreeEntry]) -> [String] {
    let mine = Dictionary(uniqueKeysWithValues: got.map { ($0.path, $0) })
    let theirs = Dictionary(uniqueKeysWithValues: expected.map { ($0.path, $0) })
    return Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }
        .map { path in "\(Escaping.escape(path)): read \(mine[path].map { "\($0.kind) \($0.size)" } ?? "nothing"), "
            + "git archive \(theirs[path].map { "\($0.kind) \($0.size)" } ?? "nothing")" }
        .sorted()
}

private func entry(_ entries: [TreeEntry], _ path: String) -> TreeEntry? {
    entries.first { $0.path == Array(path.utf8) }
}

@Suite struct ArchiveModeTests {
    /// Every attribute the fixture uses, against real `git archive`: same paths, kinds, sizes
    /// and SHA-256 of every file.
    @Test func fixtureMatchesGitArchive() throws {
        let expected = try referenceArchive(archiveRepository, "v1.0")
        let snapshot = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: true)
        let got = snapshot.entries
        #expect(differences(got, expected) == [])
        // The cases themselves, so a fixture that lost one is noticed.
        #expect(entry(got, "ignored-dir/a.txt") == nil && entry(got, "ignored-dir/sub/b.txt") == nil)
        #expect(entry(got, "kept/secret.txt") == nil && entry(got, "kept/plain.txt") != nil)
        #expect(entry(got, "vendor/lib") == nil)
        #expect(entry(got, "link-to-subst")?.kind == .link)
        #expect(entry(got, "crlf-from-lf.txt")?.digest == SHA256.hash(Array("one\r\ntwo\r\n".utf8)))
        #expect(entry(got, "crlf-mixed.txt")?.digest == SHA256.hash(Array("one\r\ntwo\r\nthree\rfour\r\n".utf8)))
        #expect(entry(got, "lf-from-crlf.txt")?.digest == SHA256.hash(Array("one\r\ntwo\r\n".utf8)))
        #expect(entry(got, "not-text.txt")?.digest == SHA256.hash(Array("one\ntwo\n".utf8)))
        #expect(entry(got, "binary.dat")?.size == 9 && entry(got, "auto-binary.txt")?.size == 9)
        #expect(entry(got, "sub/converted.txt")?.size == 10 && entry(got, "sub/kept.txt")?.size == 8)
        // Without archive mode the stored blobs come back, gitlink and ignored paths included.
        let plain = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: false)
        #expect(plain.entries == (try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0")).entries)
        #expect(entry(plain.entries, "ignored-dir/a.txt") != nil && entry(plain.entries, "vendor/lib") != nil)
        #expect(entry(plain.entries, "crlf-from-lf.txt")?.size == 8)
    }

    /// The expanded file itself, as git 2.39 prints it for this commit (see the fixture script;
    /// reproduce with `git archive v1.0 subst.txt | tar -xO`).
    @Test func exportSubstExpandsEveryPlaceholder() throws {
        var seen: [UInt8] = []
        let collector = Collector()
        _ = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: true, workers: 1,
                               inspect: { visit in visit.path == Array("subst.txt".utf8) ? collector : nil })
        seen = collector.bytes
        let text = String(decoding: seen, as: UTF8.self)
        let commit = try run("git", ["-C", archiveRepository.path, "rev-parse", "v1.0^{commit}"], environment: isolatedGit)
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.contains("ids: \(commit) \(commit.prefix(7)) "))
        #expect(text.contains("author: Release Engineer <release@example.com> Tue Feb 3 04:05:06 2026 +0130 | "
                              + "Tue, 3 Feb 2026 04:05:06 +0130 | 2026-02-03T04:05:06+01:30 | 1770086106\n"))
        #expect(text.contains("committer: Build Robot <robot@example.com> Wed Feb 4 07:08:09 2026 -0800 | "
                              + "Wed, 4 Feb 2026 07:08:09 -0800 | 2026-02-04T07:08:09-08:00 | 1770217689\n"))
        #expect(text.contains("refs:  (HEAD -> main, tag: v1.0, release)|HEAD -> main, tag: v1.0, release\n"))
        #expect(text.contains("subject: Release 1.0 with a subject on two lines\n% and an unfinished $Format:%H\n"))
    }

    @Test func unsupportedPlaceholderNamesFileAndPlaceholder() throws {
        let repository = archiveFixtureRoot.appendingPathComponent("bad-placeholder")
        let error = #expect(throws: GitError.self) {
            try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true)
        }
        #expect(error?.description.contains("unsupported placeholder %G in $Format$ in version.txt") == true, "\(String(describing: error))")
        // Without archive mode the same tree reads.
        #expect(throws: Never.self) { try GitReader.read(repositoryPath: repository.path, revision: "v1.0") }
    }

    @Test func filterWithConfiguredDriverNamesTheFile() throws {
        let repository = archiveFixtureRoot.appendingPathComponent("filter-driver")
        let error = #expect(throws: GitError.self) {
            try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true)
        }
        #expect(error?.description.contains("'secret.bin' has the attribute filter=x") == true, "\(String(describing: error))")
    }

    /// git ignores an attributes line of 2048 bytes or more (`warning: ignoring overly long
    /// attributes line`), libgit2 applies it: refused, not guessed.
    @Test func attributesLineGitIgnoresIsRefused() throws {
        let repository = archiveFixtureRoot.appendingPathComponent("long-line")
        let error = #expect(throws: GitError.self) {
            try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true)
        }
        #expect(error?.description.contains("'.gitattributes': line 1 is 2999 bytes long") == true, "\(String(describing: error))")
    }

    /// Generated trees (see `Scripts/make-archive-fixture`), each with its own mix of patterns.
    @Test(arguments: 0..<12) func generatedTreesMatchGitArchive(number: Int) throws {
        let repository = archiveFixtureRoot.appendingPathComponent("mixed/r\(number)")
        let expected = try referenceArchive(repository, "HEAD")
        let got = try GitReader.read(repositoryPath: repository.path, revision: "HEAD", archive: true).entries
        #expect(differences(got, expected) == [])
    }

    /// Lines git and libgit2 read differently: each refused, naming the file and the line.
    @Test(arguments: [
        (".gitattributes", "\"a b\" export-ignore\n", "line 1 has a quoted pattern"),
        (".gitattributes", "README -text\n!README export-ignore\n", "line 2 has a negative pattern"),
        (".gitattributes", "x\\ y export-ignore\n", "line 1 has a pattern ending in a backslash"),
        ("sub/.gitattributes", "[attr]drop export-ignore\n", "line 1 defines a macro outside the top-level"),
        (".gitattributes", "README drop\n[attr]drop export-ignore\n", "line 1 uses the macro 'drop' before its definition on line 2"),
        (".gitattributes", "*.c binary\n*.c -binary\n", "line 2 sets the macro 'binary' to '-binary'"),
    ])
    func attributesGitReadsDifferentlyAreRefused(file: String, content: String, fragment: String) throws {
        let repository = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: repository) }
        let git = { (args: [String]) in
            _ = try run("git", ["-C", repository.path, "-c", "user.name=T", "-c", "user.email=t@example.com"] + args,
                    environment: isolatedGit)
        }
        try git(["init", "-q"])
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try "text\n".write(to: repository.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        try content.write(to: repository.appendingPathComponent(file), atomically: true, encoding: .utf8)
        try git(["add", "-A"])
        try git(["commit", "-q", "-m", "x"])
        let error = #expect(throws: GitError.self) {
            try GitReader.read(repositoryPath: repository.path, revision: "HEAD", archive: true)
        }
        #expect(error?.description.contains("'\(file)'") == true && error?.description.contains(fragment) == true,
                "\(String(describing: error))")
    }

    /// The project's own history, whatever its attributes are today.
    @Test func ownRepositoryHeadMatchesGitArchive() throws {
        let expected = try referenceArchive(repositoryRoot, "HEAD")
        let got = try GitReader.read(repositoryPath: repositoryRoot.path, revision: "HEAD", archive: true).entries
        #expect(!got.isEmpty)
        #expect(differences(got, expected) == [])
    }

    /// A work tree and index that say otherwise change nothing (git archive reads neither
    /// without --worktree-attributes). `info/attributes` and config that change what git
    /// archive writes once changed nothing either, so a manifest still verified while the
    /// reviewer's git archive wrote another tree: each is now refused by name.
    @Test func attributesOutsideTheCommitAreAppliedOrRefused() throws {
        let copy = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: copy) }
        let repository = copy.appendingPathComponent("archive")
        try FileManager.default.copyItem(at: archiveRepository, to: repository)
        let git = { (args: [String]) in _ = try run("git", ["-C", repository.path] + args, environment: isolatedGit) }
        try "README eol=crlf\n".write(to: repository.appendingPathComponent(".gitattributes"), atomically: true, encoding: .utf8)
        try git(["add", ".gitattributes"])
        let pristine = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: true)
        let changed = try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true)
        #expect(differences(changed.entries, pristine.entries) == [])
        #expect(entry(changed.entries, "README")?.size == 6)
        #expect(differences(changed.entries, try referenceArchive(repository, "v1.0")) == [])
        let attributes = repository.appendingPathComponent(".git/info/attributes")
        let global = copy.appendingPathComponent("global-attributes")
        try "*.txt eol=crlf\n".write(to: global, atomically: true, encoding: .utf8)
        for (setting, named) in [(["info", "* export-ignore\n"], "line 1 of $GIT_DIR/info/attributes sets 'export-ignore'"),
                                 (["core.autocrlf", "true"], "core.autocrlf=true is set"),
                                 (["core.eol", "crlf"], "core.eol=crlf is set"),
                                 (["core.attributesFile", global.path], "sets 'eol=crlf'")] {
            if setting[0] == "info" {
                try setting[1].write(to: attributes, atomically: true, encoding: .utf8)
            } else {
                try git(["config", setting[0], setting[1]])
            }
            let error = #expect(throws: GitError.self) {
                try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true)
            }
            #expect(error?.description.contains(named) == true, "\(String(describing: error))")
            if setting[0] == "info" { try FileManager.default.removeItem(at: attributes) } else { try git(["config", "--unset", setting[0]]) }
        }
        // core.attributesFile naming a file with only a diff driver line changes nothing.
        try "*.pdf diff=pdf\n".write(to: attributes.deletingLastPathComponent().appendingPathComponent("mine"), atomically: true, encoding: .utf8)
        try git(["config", "core.attributesFile", attributes.deletingLastPathComponent().appendingPathComponent("mine").path])
        #expect(differences(try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true).entries, pristine.entries) == [])
    }

    /// A shallow clone: git shows the boundary commit without parents and decorated "grafted",
    /// and its refs are the clone's own.
    @Test func shallowCloneMatchesGitArchive() throws {
        let copy = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: copy) }
        let clone = copy.appendingPathComponent("clone")
        let result = try run("git", ["clone", "-q", "--depth", "1", "file://" + archiveRepository.path, clone.path],
                             environment: isolatedGit)
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try referenceArchive(clone, "v1.0")
        let got = try GitReader.read(repositoryPath: clone.path, revision: "v1.0", archive: true).entries
        #expect(differences(got, expected) == [])
    }

    /// Ref names are bytes: a branch named in Latin-1 shows in %d exactly as git prints it.
    @Test func decorationsKeepRefNameBytes() throws {
        let copy = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: copy) }
        let repository = copy.appendingPathComponent("archive")
        try FileManager.default.copyItem(at: archiveRepository, to: repository)
        let result = try run("bash", ["-c", "git -C \"$1\" branch \"$(printf 'caf\\351')\" v1.0", "branch", repository.path],
                             environment: isolatedGit)
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try referenceArchive(repository, "v1.0")
        let got = try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true).entries
        #expect(differences(got, expected) == [])
        #expect(entry(got, "subst.txt")?.size != entry(try referenceArchive(archiveRepository, "v1.0"), "subst.txt")?.size)
    }

    /// Over 16384 packed objects, git's automatic abbreviation grows to 8 digits.
    @Test func abbreviationLengthFollowsTheObjectCount() throws {
        let repository = archiveFixtureRoot.appendingPathComponent("many-objects")
        let expected = try referenceArchive(repository, "v1.0")
        let got = try GitReader.read(repositoryPath: repository.path, revision: "v1.0", archive: true).entries
        #expect(differences(got, expected) == [])
        #expect(entry(got, "subst.txt")?.size == 27)   // three 8-digit ids, two spaces, a newline
    }

    @Test func parallelAndSingleThreadedArchiveReadsAreIdentical() throws {
        let one = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: true, workers: 1)
        let many = try GitReader.read(repositoryPath: archiveRepository.path, revision: "v1.0", archive: true, workers: 8)
        #expect(one.entries == many.entries)
    }
}

/// Collects one file's bytes as the reader shows them.
private final class Collector: ContentSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [UInt8] = []
    var bytes: [UInt8] { lock.withLock { collected } }
    func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        lock.withLock { collected += chunk }
        return true
    }
    func finish() {}
}

import Foundation
import GlassboxCrypto
import GlassboxGit
import Testing

private func write(_ text: String, to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

@Suite struct NestedGitTests {
    /// A `.git` below the root is git data no release tree can hold: it is reported, not read and
    /// not silently dropped; the root's own `.git` is skipped and flagged.
    @Test func nestedGitIsReportedAndNeverRead() throws {
        let tree = try temporaryDirectory()
        try write("int main(void) { return 0; }\n", to: tree.appendingPathComponent("src/main.c"))
        try write("evil\n", to: tree.appendingPathComponent("src/.git/evil.c"))
        try write("gitdir: somewhere\n", to: tree.appendingPathComponent("docs/.git"))
        try write("[core]\n", to: tree.appendingPathComponent(".git/config"))
        let read = try DirectoryReader.readTree(root: tree.path)
        #expect(read.entries.map(\.path) == [bytes("src/main.c")])
        #expect(read.nestedGit == [bytes("docs/.git"), bytes("src/.git")])
        #expect(read.skippedRootGit)
        #expect(read.submoduleCheckouts.isEmpty)
    }

    /// An artifact directory promises nothing unlisted: with `skipRootGit` false, even the root's
    /// `.git` is reported.
    @Test func skippingNothingReportsTheRootGitToo() throws {
        let tree = try temporaryDirectory()
        try write("a\n", to: tree.appendingPathComponent("a.txt"))
        try write("[core]\n", to: tree.appendingPathComponent(".git/config"))
        let read = try DirectoryReader.readTree(root: tree.path, skipRootGit: false)
        #expect(!read.skippedRootGit)
        #expect(read.nestedGit == [bytes(".git")])
        #expect(read.entries.map(\.path) == [bytes("a.txt")])
        let plain = try temporaryDirectory()
        try write("a\n", to: plain.appendingPathComponent("a.txt"))
        #expect(try DirectoryReader.readTree(root: plain.path).skippedRootGit == false)
    }

    /// A recursive clone holds the submodule's files and a `.git` file pointing into the
    /// superproject's `.git/modules`: read as a submodule pinned at its HEAD, it gives exactly
    /// the entries git has for the commit.
    @Test func aRecursiveCloneReadsLikeItsCommit() throws {
        let base = try temporaryDirectory()
        let lib = base.appendingPathComponent("lib")
        try write("int lib(void) { return 1; }\n", to: lib.appendingPathComponent("lib.c"))
        try write("x\n", to: lib.appendingPathComponent("include/lib.h"))
        _ = try git(["init", "-q", "."], in: lib)
        _ = try git(["add", "-A"], in: lib)
        _ = try git(["commit", "-q", "-m", "lib"], in: lib)
        let libCommit = try git(["rev-parse", "HEAD"], in: lib)
        let project = base.appendingPathComponent("project")
        try write("hello\n", to: project.appendingPathComponent("README"))
        _ = try git(["init", "-q", "."], in: project)
        _ = try git(["submodule", "add", "-q", lib.path, "vendor/lib"], in: project)
        _ = try git(["add", "-A"], in: project)
        _ = try git(["commit", "-q", "-m", "project"], in: project)
        let clone = base.appendingPathComponent("clone")
        _ = try git(["clone", "-q", "--recursive", project.path, clone.path], in: base)

        let read = try DirectoryReader.readTree(root: clone.path, submodulePaths: [bytes("vendor/lib")])
        let fromGit = try GitReader.read(repositoryPath: clone.path, revision: "HEAD").entries
        #expect(read.entries == fromGit)
        #expect(read.entries.contains(TreeEntry(path: bytes("vendor/lib"), kind: .submodule, size: 0, digest: unhex(libCommit))))
        #expect(read.submoduleCheckouts == [SubmoduleCheckout(path: bytes("vendor/lib"), commit: libCommit, filesNotChecked: 2)])
        #expect(read.nestedGit.isEmpty)
        #expect(read.skippedRootGit)
        // Without the submodule list, the checkout is plain files and its `.git` is reported.
        let plain = try DirectoryReader.readTree(root: clone.path)
        #expect(plain.entries.contains { $0.path == bytes("vendor/lib/lib.c") })
        #expect(plain.nestedGit == [bytes("vendor/lib/.git")])
    }

    /// HEAD naming a branch is followed through a loose ref, or through `packed-refs`; a `.git`
    /// directory (an older checkout) is read like a `gitdir:` file's target.
    @Test(arguments: ["loose", "packed", "directory"])
    func headIsFollowedThroughRefs(layout: String) throws {
        let tree = try temporaryDirectory()
        let commit = String(repeating: "ab", count: 20)
        let gitDir = layout == "directory" ? tree.appendingPathComponent("m/.git") : tree.appendingPathComponent(".git/modules/m")
        try write("ref: refs/heads/main\n", to: gitDir.appendingPathComponent("HEAD"))
        if layout == "packed" {
            try write("# pack-refs with: peeled fully-peeled sorted\n\(String(repeating: "cd", count: 20)) refs/heads/other\n"
                      + "\(commit) refs/heads/main\n^\(String(repeating: "ef", count: 20))\n",
                      to: gitDir.appendingPathComponent("packed-refs"))
        } else {
            try write("\(commit)\n", to: gitDir.appendingPathComponent("refs/heads/main"))
        }
        if layout != "directory" { try write("gitdir: ../.git/modules/m\n", to: tree.appendingPathComponent("m/.git")) }
        try write("a\n", to: tree.appendingPathComponent("m/a.txt"))
        let read = try DirectoryReader.readTree(root: tree.path, submodulePaths: [bytes("m")])
        #expect(read.entries == [TreeEntry(path: bytes("m"), kind: .submodule, size: 0, digest: unhex(commit))])
        #expect(read.submoduleCheckouts == [SubmoduleCheckout(path: bytes("m"), commit: commit, filesNotChecked: 1)])
    }

    /// A `.git` file is read only inside the tree, and never through a symlink.
    @Test(arguments: [("gitdir: ../../elsewhere\n", "outside the tree"), ("gitdir: /tmp\n", "absolute"),
                      ("gitdir: ../outside-link\n", "changed while being read")])
    func gitdirLeavingTheTreeIsRefused(gitFile: String, fragment: String) throws {
        let base = try temporaryDirectory()
        let tree = base.appendingPathComponent("tree")
        let elsewhere = base.appendingPathComponent("elsewhere")
        try write("\(String(repeating: "ab", count: 20))\n", to: elsewhere.appendingPathComponent("HEAD"))
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: tree.appendingPathComponent("outside-link").path,
                                                   withDestinationPath: elsewhere.path)
        try write(gitFile, to: tree.appendingPathComponent("m/.git"))
        let error = #expect(throws: ReadError.self) {
            try DirectoryReader.readTree(root: tree.path, submodulePaths: [bytes("m")])
        }
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
    }

    /// `git archive` leaves a submodule as an empty directory: no entry (it stays missing), but a
    /// record with no commit. Files without a readable HEAD are counted, with no entry either.
    @Test func emptyOrHeadlessCheckoutsGiveNoEntry() throws {
        let tree = try temporaryDirectory()
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("empty"), withIntermediateDirectories: true)
        try write("a\n", to: tree.appendingPathComponent("headless/a.txt"))
        try write("b\n", to: tree.appendingPathComponent("headless/sub/b.txt"))
        try write("not a commit\n", to: tree.appendingPathComponent("broken/.git/HEAD"))
        try write("c\n", to: tree.appendingPathComponent("broken/c.txt"))
        let read = try DirectoryReader.readTree(root: tree.path, submodulePaths: [bytes("empty"), bytes("headless"), bytes("broken")])
        #expect(read.entries.isEmpty)
        #expect(read.submoduleCheckouts == [
            SubmoduleCheckout(path: bytes("broken"), commit: nil, filesNotChecked: 1),
            SubmoduleCheckout(path: bytes("empty"), commit: nil, filesNotChecked: 0),
            SubmoduleCheckout(path: bytes("headless"), commit: nil, filesNotChecked: 2),
        ])
        #expect(read.nestedGit.isEmpty)
    }
}

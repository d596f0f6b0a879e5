import Foundation
import Testing

/// `Scripts/reference-verify.py`, written from FORMAT.md alone, as a second opinion.
@Suite struct ReferenceVerifierTests {
    private let script = repositoryRoot.appendingPathComponent("Scripts/reference-verify.py").path

    @Test func computesTheSameRootForEveryFixtureRelease() throws {
        let dir = try temporaryDirectory()
        for rev in ["v1.0.0", "v1.1.0"] {
            let manifest = dir.appendingPathComponent("\(rev).manifest").path
            #expect(try glassbox("manifest", "--repo", sample.path, "--rev", rev, "-o", manifest).status == 0)
            let result = try run("python3", [script, "root", manifest])
            #expect(result.status == 0, "\(result.stderr)")
            let stated = try String(contentsOfFile: manifest, encoding: .utf8).split(separator: "\n")
            #expect(result.stdout == "count \(stated[1])\nroot \(stated[2])\n")
        }
    }

    @Test func agreesOnEveryDifferenceInATamperedTree() throws {
        let dir = try temporaryDirectory()
        let manifest = dir.appendingPathComponent("m").path
        let tree = try unpackArchive(sample, "v1.0.0")
        #expect(try glassbox("manifest", "--dir", tree.path, "-o", manifest).status == 0)
        #expect(try run("python3", [script, "check", manifest, tree.path]).status == 0)

        let fm = FileManager.default
        try Data("changed\n".utf8).write(to: tree.appendingPathComponent("names/café.txt"))
        try Data("new\n".utf8).write(to: tree.appendingPathComponent("names/new\tfile"))
        try fm.removeItem(at: tree.appendingPathComponent("names/new\nline.txt"))
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree.appendingPathComponent("Makefile").path)
        try fm.removeItem(at: tree.appendingPathComponent("docs/outside-link"))
        try fm.createSymbolicLink(atPath: tree.appendingPathComponent("docs/outside-link").path, withDestinationPath: "elsewhere")

        let reference = try run("python3", [script, "check", manifest, tree.path])
        #expect(reference.status == 1)
        #expect(reference.stdout == """
            mode-changed Makefile
            retargeted docs/outside-link
            modified names/café.txt
            extra names/new\\tfile
            missing names/new\\nline.txt
            5 differences

            """)
        let ours = try glassbox("check", manifest, "--dir", tree.path)
        #expect(ours.status == 1)
        #expect(ours.stdout.contains("5 differences"))
    }
}

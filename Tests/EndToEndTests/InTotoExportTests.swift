import Foundation
import Testing

/// The plain fixture's v2.0.0 with two artifacts, and an Ed25519 and an ECDSA P-256 release key.
private struct ExportFixture {
    let dir: URL
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
    var manifest: String { file("plain-2.0.0.manifest") }
    static let checker = repositoryRoot.appendingPathComponent("Tests/Interop/dsse-verify.py").path

    init() throws {
        dir = try temporaryDirectory("intoto")
        for (name, algorithm) in [("ed", "ed25519"), ("ec", "ecdsa-p256")] {
            #expect(try glassbox("keygen", "--name", "vendor.example/\(name)", "--algorithm", algorithm, "-o", file(name)).status == 0)
        }
        let dist = dir.appendingPathComponent("dist")
        try FileManager.default.createDirectory(at: dist, withIntermediateDirectories: true)
        try Data("ELF pretend binary\n".utf8).write(to: dist.appendingPathComponent("plain-linux-amd64"))
        try Data("tarball\n".utf8).write(to: dist.appendingPathComponent("plain-2.0.0.tar.gz"))
        let made = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                "--origin", "vendor.example/plain/2.0.0", "--artifact", dist.path, "--quiet", "-o", manifest)
        #expect(made.status == 0, "\(made.stderr)")
    }

    /// The independent verifier: Python's `cryptography`, PAE computed there.
    func check(_ envelope: String, _ pub: String) throws -> Result {
        try run("python3", [ExportFixture.checker, envelope, file(pub), manifest])
    }
}

@Suite struct InTotoExportTests {
    @Test func envelopesVerifyIndependentlyForBothAlgorithms() throws {
        let f = try ExportFixture()
        try #require(try run("python3", ["-c", "import cryptography"]).status == 0,
                     "the independent check needs Python's cryptography (Debian python3-cryptography; Scripts/test installs it)")
        for name in ["ed", "ec"] {
            let envelope = f.file("\(name).intoto.jsonl")
            let exported = try glassbox("export", "in-toto", f.manifest, "--key", f.file("\(name).key"), "-o", envelope)
            #expect(exported.status == 0, "\(exported.stderr)")
            #expect(exported.stderr.hasPrefix("glassbox: in-toto statement about 2 artifacts of vendor.example/plain/2.0.0, signed by vendor.example/\(name)+"))
            let checked = try f.check(envelope, "\(name).pub")
            #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
            #expect(checked.stdout.hasPrefix("verified: vendor.example/\(name)+"))
            #expect(checked.stdout.contains("signed 2 subjects of vendor.example/plain/2.0.0 (gitCommit="))
            // Another key's .pub does not verify it.
            let other = try f.check(envelope, name == "ed" ? "ec.pub" : "ed.pub")
            #expect(other.status == 1)
        }
    }

    /// The checker can fail: a statement changed after signing (one subject's digest) does not
    /// verify, and a statement signed over the wrong subjects does not match the manifest.
    @Test func aChangedStatementFailsTheIndependentCheck() throws {
        let f = try ExportFixture()
        try #require(try run("python3", ["-c", "import cryptography"]).status == 0, "needs Python's cryptography")
        let envelope = f.file("ed.intoto.jsonl")
        #expect(try glassbox("export", "in-toto", f.manifest, "--key", f.file("ed.key"), "-o", envelope).status == 0)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: envelope))) as? [String: Any])
        let payload = try #require(Data(base64Encoded: object["payload"] as! String))
        let digest = try #require(String(decoding: payload, as: UTF8.self).range(of: "\"sha256\":\""))
        var changed = String(decoding: payload, as: UTF8.self)
        let at = changed.index(digest.upperBound, offsetBy: 0)
        changed.replaceSubrange(at...at, with: changed[at] == "0" ? "1" : "0")
        object["payload"] = Data(changed.utf8).base64EncodedString()
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: f.file("changed.jsonl")))
        let checked = try f.check(f.file("changed.jsonl"), "ed.pub")
        #expect(checked.status == 1)
        #expect(checked.stdout == "FAILED: the signature does not verify over PAE\n")
    }

    /// The same manifest and Ed25519 key give the same bytes; the keyid is the .pub's name+keyid.
    @Test func theExportIsDeterministic() throws {
        let f = try ExportFixture()
        #expect(try glassbox("export", "in-toto", f.manifest, "--key", f.file("ed.key"), "-o", f.file("one")).status == 0)
        let second = try glassbox("export", "in-toto", f.manifest, "--key", f.file("ed.key"))
        #expect(second.status == 0)
        #expect(second.stdoutBytes == (try Data(contentsOf: URL(fileURLWithPath: f.file("one")))))
        let pub = try String(contentsOfFile: f.file("ed.pub"), encoding: .utf8)
        #expect(second.stdout.contains("\"keyid\":\"\(pub.split(separator: "+")[0...1].joined(separator: "+"))\""))
        #expect(second.stdout.hasSuffix("}\n") && second.stdout.filter { $0 == "\n" }.count == 1, "one JSON line")
    }

    @Test func aManifestWithoutArtifactsOrWithBadEntriesIsRefused() throws {
        let f = try ExportFixture()
        let bare = f.file("bare.manifest")
        #expect(try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                             "--origin", "vendor.example/plain/2.0.0", "--quiet", "-o", bare).status == 0)
        let refused = try glassbox("export", "in-toto", bare, "--key", f.file("ed.key"), "-o", f.file("out"))
        #expect(refused.status == 2)
        #expect(refused.stderr == "glassbox: error: \(bare): the manifest lists no artifacts, and an in-toto statement needs at least one subject\n"
                + "glassbox: hint: list the shipped files with `glassbox manifest --artifact DIR`\n")
        #expect(!FileManager.default.fileExists(atPath: f.file("out")))
        // An entry changed after the root was computed: not vouched for.
        var text = try String(contentsOfFile: f.manifest, encoding: .utf8)
        let entry = try #require(text.range(of: "\nfile "))
        text.replaceSubrange(entry, with: "\nexec ")
        try Data(text.utf8).write(to: URL(fileURLWithPath: f.file("edited.manifest")))
        let edited = try glassbox("export", "in-toto", f.file("edited.manifest"), "--key", f.file("ed.key"))
        #expect(edited.status == 2)
        #expect(edited.stderr.contains("refusing to vouch for a manifest whose entries do not match its root"))
    }
}

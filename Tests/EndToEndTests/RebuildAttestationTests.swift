import Foundation
import Testing

/// A signed release with two artifacts (one with a space in its name), keys for three
/// rebuilders (r1 Ed25519 and r2 ECDSA P-256 trusted, r3 not), and a policy asking for
/// `rebuild-threshold 2`.
private struct RebuiltRelease {
    let dir: URL
    var manifest: String { path("release.manifest") }
    var trust: String { path("trust") }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init() throws {
        dir = try temporaryDirectory("rebuild")
        let fm = FileManager.default
        for sub in ["src", "artifacts"] { try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try Data("int main(void) { return 0; }\n".utf8).write(to: dir.appendingPathComponent("src/main.c"))
        try Data("the tool's binary\n".utf8).write(to: dir.appendingPathComponent("artifacts/tool"))
        try Data("the manual\n".utf8).write(to: dir.appendingPathComponent("artifacts/read me.txt"))
        for (name, algorithm) in [("vendor", "ed25519"), ("r1", "ed25519"), ("r2", "ecdsa-p256"), ("r3", "ed25519")] {
            let made = try glassbox("keygen", "--name", "\(name).example/key", "--algorithm", algorithm, "-o", path(name))
            #expect(made.status == 0, "\(made.stderr)")
        }
        try makeManifest(manifest, source: "src")
        try Data("./configure && make\n".utf8).write(to: dir.appendingPathComponent("recipe"))
        try writePolicy(threshold: 2)
    }

    func makeManifest(_ output: String, source: String) throws {
        let made = try glassbox("manifest", "--dir", path(source), "--origin", "vendor.example/tool/1.0", "--name", "tool",
                                "--version", "1.0", "--artifact", path("artifacts"), "--quiet", "-o", output)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try glassbox("sign", "--key", path("vendor.key"), output).status == 0)
    }

    func vkey(_ name: String) throws -> String {
        try String(contentsOfFile: path("\(name).pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
    }

    func writePolicy(threshold: Int) throws {
        let policy = "glassbox-trust v1\nthreshold 1\nkey \(try vkey("vendor"))\nrebuild-threshold \(threshold)\n"
            + "rebuilder \(try vkey("r1"))\nrebuilder \(try vkey("r2"))\n"
        try Data(policy.utf8).write(to: URL(fileURLWithPath: trust))
    }

    /// Rebuilt files: the artifacts as signed, or with `tool` rebuilt differently.
    func rebuilt(differing: Bool = false) throws -> String {
        let out = try temporaryDirectory("rebuilt")
        for name in ["tool", "read me.txt"] {
            try FileManager.default.copyItem(at: dir.appendingPathComponent("artifacts/\(name)"), to: out.appendingPathComponent(name))
        }
        if differing { try Data("a different binary\n".utf8).write(to: out.appendingPathComponent("tool")) }
        return out.path
    }

    /// An attestation by `rebuilder` (written to a new file), and attest-rebuild's result.
    func attest(_ rebuilder: String, differing: Bool = false, manifest: String? = nil) throws -> (file: String, result: Result) {
        let file = path("\(rebuilder)-\(UUID().uuidString).attestation")
        let result = try glassbox("attest-rebuild", "--manifest", manifest ?? self.manifest, "--recipe", path("recipe"),
                                  "--recipe-path", "build/recipe", "--requires", "gcc=12.2.0-14", "--requires", "make=4.3-4.1",
                                  "--rebuilt", try rebuilt(differing: differing), "--key", path("\(rebuilder).key"), "-o", file)
        return (file, result)
    }

    func verify(_ attestations: [String], _ extra: [String] = []) throws -> Result {
        try verifyRelease(["--manifest", manifest, "--trust", trust, "--dir", path("src")]
                          + attestations.flatMap { ["--rebuild-attestation", $0] } + extra)
    }
}

@Suite struct RebuildAttestationTests {
    @Test func attestRebuildWritesTheNoteTextFormatDescribes() throws {
        let release = try RebuiltRelease()
        let (file, result) = try release.attest("r1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "glassbox: 2 of 2 artifacts reproduced; attested as r1.example/key\n")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "glassbox-rebuild v1")
        #expect(lines[1] == "origin vendor.example/tool/1.0")
        #expect(lines[2].hasPrefix("root ") && lines[2].count == 5 + 44)
        // printf './configure && make\n' | sha256sum
        #expect(lines[3] == "recipe 2e3225cef5801ccece60d6f0cc9b10a9e1431b2581ab6fd9a3079515abaf15a0 build/recipe")
        #expect(lines[4] == "requires gcc 12.2.0-14")
        #expect(lines[5] == "requires make 4.3-4.1")
        // printf 'the manual\n' | sha256sum; printf "the tool's binary\n" | sha256sum
        let manual = "b3b72e7cad9a7386ebe14e52b41f8d4f61b656cdf424f2e524f45144c8eaf95b", tool = "f4894a6d23ff5303e2c8cb6869c2d897a1fdf5a292bdf70907714eefe6d2bdb7"
        #expect(lines[6] == "artifact \(manual) \(manual) reproduced read me.txt")
        #expect(lines[7] == "artifact \(tool) \(tool) reproduced tool")
        #expect(lines[8] == "")
        #expect(lines[9].hasPrefix("— r1.example/key "))
    }

    @Test func oneAttestationDoesNotMeetAThresholdOfTwo() throws {
        let release = try RebuiltRelease()
        let result = try release.verify([try release.attest("r1").file])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: FAILED tool 1.0 (vendor.example/tool/1.0): 1 problem\n"), "\(result.stdout)")
        #expect(result.stdout.contains("✗ rebuild-threshold-not-met: 1 of the 2 required trusted rebuilders attest that every artifact reproduced"),
                "\(result.stdout)")
        #expect(result.stdout.contains("rebuilds   1 of 2 required trusted rebuilders attest every artifact reproduced: r1.example/key (1 attestation given)"),
                "\(result.stdout)")
        // And none at all: the policy's threshold applies without any --rebuild-attestation.
        let none = try release.verify([])
        #expect(none.status == 1)
        #expect(none.stdout.contains("✗ rebuild-threshold-not-met: 0 of the 2 required"), "\(none.stdout)")
    }

    @Test func twoDistinctTrustedRebuildersVerify() throws {
        let release = try RebuiltRelease()
        let result = try release.verify([try release.attest("r1").file, try release.attest("r2").file])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED tool 1.0 (vendor.example/tool/1.0)\n"), "\(result.stdout)")
        #expect(result.stdout.contains("rebuilds   2 of 2 required trusted rebuilders attest every artifact reproduced: r1.example/key, r2.example/key"),
                "\(result.stdout)")
        let json = try release.verify([try release.attest("r1").file, try release.attest("r2").file], ["--json"])
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as! [String: Any]
        #expect(object["rebuildThreshold"] as? Int == 2)
        #expect((object["rebuilders"] as? [String])?.count == 2)
    }

    @Test func anAttestationThatAnArtifactDiffersFailsWhateverTheThreshold() throws {
        let release = try RebuiltRelease()
        let differs = try release.attest("r2", differing: true)
        // Written for a failure too, and attest-rebuild says so by its exit status.
        #expect(differs.result.status == 1, "\(differs.result.stderr)")
        #expect(differs.result.stderr == "glassbox: 1 of 2 artifacts reproduced; attested as r2.example/key\n")
        let text = try String(contentsOfFile: differs.file, encoding: .utf8)
        #expect(text.contains(" differs tool\n"), "\(text)")
        let result = try release.verify([try release.attest("r1").file, differs.file])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("✗ not-reproduced tool: rebuilder r2.example/key (\(differs.file)) rebuilt it as sha256 "), "\(result.stdout)")
        // With a threshold of one met by r1, r2's "differs" still fails the release.
        try release.writePolicy(threshold: 1)
        let met = try release.verify([try release.attest("r1").file, differs.file])
        #expect(met.status == 1, "\(met.stdout)")
        #expect(met.stdout.hasPrefix("verify-release: FAILED tool 1.0 (vendor.example/tool/1.0): 1 problem\n"), "\(met.stdout)")
        #expect(met.stdout.contains("✗ not-reproduced tool:"))
        #expect(!met.stdout.contains("rebuild-threshold-not-met"))
    }

    @Test func theSameKeyTwiceCountsOnce() throws {
        let release = try RebuiltRelease()
        let result = try release.verify([try release.attest("r1").file, try release.attest("r1").file])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("· same-key-again r1.example/key:"), "\(result.stdout)")
        #expect(result.stdout.contains("✗ rebuild-threshold-not-met: 1 of the 2 required"), "\(result.stdout)")
    }

    @Test func anAttestationForAnotherRootDoesNotCount() throws {
        let release = try RebuiltRelease()
        // The same origin and artifacts, but another tree: another Merkle root.
        try FileManager.default.createDirectory(at: release.dir.appendingPathComponent("src2"), withIntermediateDirectories: true)
        try Data("int main(void) { return 1; }\n".utf8).write(to: release.dir.appendingPathComponent("src2/main.c"))
        let other = release.path("other.manifest")
        try release.makeManifest(other, source: "src2")
        let elsewhere = try release.attest("r2", manifest: other)
        #expect(elsewhere.result.status == 0)
        let result = try release.verify([try release.attest("r1").file, elsewhere.file])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("· other-release \(elsewhere.file): r2.example/key attests origin vendor.example/tool/1.0 root "),
                "\(result.stdout)")
        #expect(result.stdout.contains("✗ rebuild-threshold-not-met: 1 of the 2 required"), "\(result.stdout)")
    }

    @Test func anUntrustedRebuilderDoesNotCount() throws {
        let release = try RebuiltRelease()
        let result = try release.verify([try release.attest("r1").file, try release.attest("r3").file])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("· rebuild-untrusted "), "\(result.stdout)")
        #expect(result.stdout.contains("✗ rebuild-threshold-not-met: 1 of the 2 required"), "\(result.stdout)")
    }

    @Test func anAlteredAttestationIsABadSignatureAndAMalformedOneIsBadInput() throws {
        let release = try RebuiltRelease()
        let differs = try release.attest("r2", differing: true).file
        // Rewrite the "differs" line so it parses as a reproduction: r2's signature no longer verifies.
        var lines = try String(contentsOfFile: differs, encoding: .utf8).components(separatedBy: "\n")
        let index = try #require(lines.firstIndex { $0.hasSuffix(" differs tool") })
        let signed = lines[index].split(separator: " ")[1]
        lines[index] = "artifact \(signed) \(signed) reproduced tool"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: differs))
        let forged = try release.verify([try release.attest("r1").file, differs])
        #expect(forged.status == 1, "\(forged.stdout)")
        #expect(forged.stdout.contains("✗ bad-signature r2.example/key: in \(differs), the signature by trusted rebuilder r2.example/key+"),
                "\(forged.stdout)")
        #expect(forged.stdout.contains("✗ rebuild-threshold-not-met: 1 of the 2 required"), "\(forged.stdout)")

        // Not a v1 attestation (a line out of its place): exit 2 naming the file and line.
        let good = try release.attest("r1").file
        var text = try String(contentsOfFile: good, encoding: .utf8).components(separatedBy: "\n")
        text.swapAt(4, 5)
        try Data(text.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: good))
        let malformed = try release.verify([good])
        #expect(malformed.status == 2, "\(malformed.stdout)\(malformed.stderr)")
        #expect(malformed.stderr.hasPrefix("glassbox: error: \(good):6: the package 'gcc' is duplicated or out of order\n"), "\(malformed.stderr)")
        // Not a signed note at all, and not there: exit 2 too.
        try Data("glassbox-rebuild v1\n".utf8).write(to: URL(fileURLWithPath: good))
        #expect(try release.verify([good]).status == 2)
        #expect(try release.verify([release.path("absent")]).status == 2)
    }

    @Test func attestationsGoInTheReleaseLogBesideManifests() throws {
        let checker = try #require(goChecker(), "building Tests/Interop/c2sp-check.go needs golang-go and golang-golang-x-mod-dev (Scripts/test installs them)")
        let release = try RebuiltRelease()
        #expect(try glassbox("keygen", "--name", "log.example/key", "-o", release.path("log")).status == 0)
        let log = release.path("tlog")
        #expect(try glassbox("log", "init", log, "--origin", "log.example/releases", "--key", release.path("log.key")).status == 0)
        let attestation = try release.attest("r1").file
        let added = try glassbox("log", "add", log, release.manifest, attestation)
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("(rebuild of vendor.example/tool/1.0) added at index 1"), "\(added.stdout)")
        #expect(try glassbox("log", "add", log, attestation).stdout.contains("already in the log at index 1"))
        #expect(try glassbox("log", "verify", log).status == 0)
        // The entry is the attestation's note text, proven under the signed checkpoint (Go's tlog checks it).
        let proof = release.path("attestation.tlog-proof")
        let proved = try glassbox("log", "prove", log, attestation, "-o", proof)
        #expect(proved.status == 0, "\(proved.stderr)")
        let text = try String(contentsOfFile: attestation, encoding: .utf8).components(separatedBy: "\n\n")[0] + "\n"
        let entry = release.path("attestation.text")
        try Data(text.utf8).write(to: URL(fileURLWithPath: entry))
        let checked = try run(checker, ["logproof", try release.vkey("log"), proof, entry])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout == "included index 1 of 2\n")
        // An unsigned attestation is refused, as an unsigned manifest is.
        try Data(text.utf8).write(to: URL(fileURLWithPath: entry))
        let unsigned = try glassbox("log", "add", log, entry)
        #expect(unsigned.status == 2)
        #expect(unsigned.stderr.contains("not a signed rebuild attestation"), "\(unsigned.stderr)")
    }

    @Test func goOpensAnAttestationWithTheRebuildersKey() throws {
        let checker = try #require(goChecker(), "building Tests/Interop/c2sp-check.go needs golang-go and golang-golang-x-mod-dev (Scripts/test installs them)")
        let release = try RebuiltRelease()
        // golang.org/x/mod/sumdb/note verifies Ed25519 keys (type 0x01) only: r1's.
        let file = try release.attest("r1").file
        let opened = try run(checker, ["note", try release.vkey("r1"), file])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout == "verified r1.example/key\n")
        // Another key's, or an altered text, does not open.
        #expect(try run(checker, ["note", try release.vkey("r3"), file]).status == 1)
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "requires gcc 12.2.0-14", with: "requires gcc 12.2.0-15")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try run(checker, ["note", try release.vkey("r1"), file]).status == 1)
    }
}

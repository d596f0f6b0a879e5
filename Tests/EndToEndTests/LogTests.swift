import Foundation
import Testing

/// A log with its key, witnesses, and signed manifests of the fixture's `plain` release under
/// distinct origins, so each is a distinct entry.
private struct LogFixture {
    let dir: URL
    var log: String { dir.appendingPathComponent("log").path }
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init() throws {
        dir = try temporaryDirectory("log")
        #expect(try glassbox("keygen", "--name", "log.example/releases", "-o", file("logkey")).status == 0)
        #expect(try glassbox("keygen", "--name", "vendor.example/r", "-o", file("vendor")).status == 0)
        for w in ["a", "b"] {
            #expect(try glassbox("keygen", "--name", "center-\(w).example/witness", "--witness", "-o", file("w\(w)")).status == 0)
        }
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", file("trust"), file("vendor.pub")).status == 0)
    }

    /// A signed manifest of the plain release under origin `vendor.example/plain/<name>`.
    func manifest(_ name: String) throws -> String {
        let path = file("\(name).manifest")
        if !FileManager.default.fileExists(atPath: path) {
            #expect(try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                 "--origin", "vendor.example/plain/\(name)", "--version", name, "-o", path).status == 0)
            #expect(try glassbox("sign", "--key", file("vendor.key"), path).status == 0)
        }
        return path
    }

    func initLog(_ path: String) throws {
        let made = try glassbox("log", "init", path, "--origin", "log.example/releases", "--key", file("logkey.key"))
        #expect(made.status == 0, "\(made.stderr)")
    }
}

@Suite struct LogTests {
    @Test func tilesFollowTheTlogTilesLayout() throws {
        let f = try LogFixture()
        try f.initLog(f.log)
        let added = try glassbox("log", "add", f.log, try f.manifest("1.0"), try f.manifest("1.1"), try f.manifest("1.2"))
        #expect(added.status == 0, "\(added.stderr)")
        let tile = f.log + "/tile/0/000.p/3"
        #expect(try FileManager.default.attributesOfItem(atPath: tile)[.size] as? Int == 96)
        #expect(FileManager.default.fileExists(atPath: f.log + "/tile/entries/000.p/3"))
        // Adding the same release again changes nothing.
        let again = try glassbox("log", "add", f.log, try f.manifest("1.1"))
        #expect(again.stdout.contains("already in the log at index 1"))
        #expect(try glassbox("log", "verify", f.log).status == 0)
        // An unsigned manifest is refused.
        let unsigned = f.file("unsigned.manifest")
        #expect(try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0", "--origin", "x/y", "-o", unsigned).status == 0)
        let refused = try glassbox("log", "add", f.log, unsigned)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("is not signed"))
        // A tampered tile is found.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tile))
        bytes[0] ^= 1
        try bytes.write(to: URL(fileURLWithPath: tile))
        let broken = try glassbox("log", "verify", f.log)
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("tile/0/000.p/3 is not what the entries give"))
    }

    @Test func tileIndexesAboveOneThousandUseXGroups() throws {
        // 300 entries: one full level-0 tile (000) and one partial (001.p/44), and a level-1 tile.
        let f = try LogFixture()
        try f.initLog(f.log)
        var manifests: [String] = []
        for i in 0..<300 { manifests.append(try f.manifest("r\(i)")) }
        #expect(try run(productsDirectory.appendingPathComponent("glassbox").path, ["log", "add", f.log] + manifests).status == 0)
        for path in ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"] {
            #expect(FileManager.default.fileExists(atPath: f.log + "/" + path), "\(path)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: f.log + "/tile/0/000")[.size] as? Int == 256 * 32)
        #expect(try glassbox("log", "verify", f.log).status == 0)
        if let go = goChecker() {
            let checked = try run(go, ["logroot", try String(contentsOfFile: f.file("logkey.pub"), encoding: .utf8), f.log])
            #expect(checked.status == 0, "\(checked.stderr)")
        }
    }

    @Test func proofsVerifyHereAndWithGo() throws {
        let f = try LogFixture()
        try f.initLog(f.log)
        #expect(try glassbox("log", "add", f.log, try f.manifest("1.0"), try f.manifest("1.1")).status == 0)
        let old = f.file("old-checkpoint")
        try FileManager.default.copyItem(atPath: f.log + "/checkpoint", toPath: old)
        #expect(try glassbox("log", "add", f.log, try f.manifest("1.2"), try f.manifest("1.3"), try f.manifest("1.4")).status == 0)
        let proof = f.file("p.proof")
        #expect(try glassbox("log", "prove", f.log, try f.manifest("1.1"), "-o", proof).status == 0)
        let consistency = f.file("c.proof")
        #expect(try glassbox("log", "consistency", f.log, "--from", "2", "-o", consistency).status == 0)
        let verified = try verifyRelease(["--manifest", try f.manifest("1.1"), "--trust", f.file("trust"), "--repo",
                                          fixtureRoot.appendingPathComponent("plain").path, "--skip-scan-unsafe",
                                          "--log-proof", proof, "--log-key", f.file("logkey.pub")])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("log        log.example/releases: index 1 of 5"))
        // The wrong release with this proof is not in the log.
        let wrong = try verifyRelease(["--manifest", try f.manifest("1.2"), "--trust", f.file("trust"), "--repo",
                                       fixtureRoot.appendingPathComponent("plain").path, "--skip-scan-unsafe",
                                       "--log-proof", proof, "--log-key", f.file("logkey.pub")])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.contains("not-in-log"))

        let go = try #require(goChecker(), "Go and golang-golang-x-mod-dev are needed (Scripts/test installs them)")
        let vkey = try String(contentsOfFile: f.file("logkey.pub"), encoding: .utf8)
        #expect(try run(go, ["note", vkey, f.log + "/checkpoint"]).status == 0)
        let text = try String(contentsOfFile: try f.manifest("1.1"), encoding: .utf8)
        let entry = f.file("entry")
        try Data((text.components(separatedBy: "\n\n")[0] + "\n").utf8).write(to: URL(fileURLWithPath: entry))
        let included = try run(go, ["logproof", vkey, proof, entry])
        #expect(included.status == 0, "\(included.stderr)")
        let consistent = try run(go, ["consistency", old, f.log + "/checkpoint", f.file("logkey.pub"), consistency])
        #expect(consistent.status == 0, "\(consistent.stderr)")
        #expect(consistent.stdout == "consistent from 2 to 5\n")
        let root = try run(go, ["logroot", vkey, f.log])
        #expect(root.status == 0, "\(root.stderr)")
    }

    /// Appends killed at random points never leave the log unverifiable or lose an acknowledged release.
    @Test func appendsSurviveSIGKILL() throws {
        let f = try LogFixture()
        try f.initLog(f.log)
        var acknowledged: [String] = []
        var generator = SystemRandomNumberGenerator()
        for i in 0..<24 {
            let manifest = try f.manifest("k\(i)")
            let process = Process()
            process.executableURL = productsDirectory.appendingPathComponent("glassbox")
            process.arguments = ["log", "add", f.log, manifest]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 0...40_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .exit && process.terminationStatus == 0 { acknowledged.append(manifest) }
            let verified = try glassbox("log", "verify", f.log)
            #expect(verified.status == 0, "after kill \(i): \(verified.stdout)\(verified.stderr)")
        }
        // Every acknowledged release is there; a proof for each can be made.
        for manifest in acknowledged {
            #expect(try glassbox("log", "prove", f.log, manifest).status == 0, "\(manifest)")
        }
        // And the log still takes appends.
        #expect(try glassbox("log", "add", f.log, try f.manifest("after")).status == 0)
        #expect(try glassbox("log", "verify", f.log).status == 0)
    }

    @Test func witnessesAndReviewersDetectASplitView() throws {
        let f = try LogFixture()
        // Two logs with the same origin and key agree on two entries, then diverge.
        let logA = f.file("logA"), logB = f.file("logB")
        try f.initLog(logA)
        try f.initLog(logB)
        for log in [logA, logB] { #expect(try glassbox("log", "add", log, try f.manifest("1.0"), try f.manifest("1.1")).status == 0) }
        #expect(try glassbox("log", "add", logA, try f.manifest("1.2.3-for-a")).status == 0)
        #expect(try glassbox("log", "add", logB, try f.manifest("1.2.3-for-b")).status == 0)
        let state = f.file("wa.state")
        let cosignA = try glassbox("witness", "cosign", "--key", f.file("wa.key"), "--state", state,
                                   "--log-key", f.file("logkey.pub"), logA + "/checkpoint")
        #expect(cosignA.status == 0, "\(cosignA.stderr)")
        #expect(cosignA.stdout.hasPrefix("— center-a.example/witness "))
        // The same witness is then shown log B: same size, different root.
        let cosignB = try glassbox("witness", "cosign", "--key", f.file("wa.key"), "--state", state,
                                   "--log-key", f.file("logkey.pub"), logB + "/checkpoint")
        #expect(cosignB.status == 1)
        #expect(cosignB.stdout.contains("REFUSED: split view: same size, different root"))
        // A rollback to an older, smaller checkpoint is refused too.
        let older = f.file("older")
        try f.initLog(older)
        #expect(try glassbox("log", "add", older, try f.manifest("1.0")).status == 0)
        let rollback = try glassbox("witness", "cosign", "--key", f.file("wa.key"), "--state", state,
                                    "--log-key", f.file("logkey.pub"), older + "/checkpoint")
        #expect(rollback.stdout.contains("REFUSED: rollback"))

        // A reviewer who verified a release through log A keeps A's checkpoint as state...
        try Data(cosignA.stdoutBytes).write(to: URL(fileURLWithPath: f.file("cosA")))
        let proofA = f.file("a.proof"), proofB = f.file("b.proof")
        #expect(try glassbox("log", "prove", logA, try f.manifest("1.2.3-for-a"), "-o", proofA, "--cosignatures", f.file("cosA")).status == 0)
        #expect(try glassbox("log", "prove", logB, try f.manifest("1.2.3-for-b"), "-o", proofB).status == 0)
        let reviewerState = f.file("reviewer.state")
        let plain = fixtureRoot.appendingPathComponent("plain").path
        let first = try verifyRelease(["--manifest", try f.manifest("1.2.3-for-a"), "--trust", f.file("trust"), "--repo", plain,
                                       "--skip-scan-unsafe", "--log-proof", proofA, "--log-key", f.file("logkey.pub"),
                                       "--witness", f.file("wa.pub"), "--state", reviewerState])
        #expect(first.status == 0, "\(first.stdout)")
        #expect(first.stdout.contains("cosigned by 1 of 1 required witnesses (center-a.example/witness)"))
        // ...and is then shown B's version of the log.
        let second = try verifyRelease(["--manifest", try f.manifest("1.2.3-for-b"), "--trust", f.file("trust"), "--repo", plain,
                                        "--skip-scan-unsafe", "--log-proof", proofB, "--log-key", f.file("logkey.pub"),
                                        "--state", reviewerState])
        #expect(second.status == 1)
        #expect(second.stdout.contains("✗ inconsistent-with-last-seen: split view: same size, different root"))
        // Without the witness's cosignature, B's proof also fails a witness threshold.
        let third = try verifyRelease(["--manifest", try f.manifest("1.2.3-for-b"), "--trust", f.file("trust"), "--repo", plain,
                                       "--skip-scan-unsafe", "--log-proof", proofB, "--log-key", f.file("logkey.pub"),
                                       "--witness", f.file("wa.pub")])
        #expect(third.status == 1)
        #expect(third.stdout.contains("witness-threshold-not-met"))
    }
}

import Foundation
import Testing

/// A log of two signed releases, its key, another log key, and a witness.
private struct ExitFixture {
    let dir: URL
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
    var log: String { file("log") }
    var checkpoint: String { log + "/checkpoint" }

    init() throws {
        dir = try temporaryDirectory("exitcodes")
        #expect(try glassbox("keygen", "--name", "log.example/releases", "-o", file("logkey")).status == 0)
        #expect(try glassbox("keygen", "--name", "other.example/releases", "-o", file("other")).status == 0)
        #expect(try glassbox("keygen", "--name", "vendor.example/r", "-o", file("vendor")).status == 0)
        #expect(try glassbox("keygen", "--name", "center.example/witness", "--witness", "-o", file("w")).status == 0)
        #expect(try glassbox("log", "init", log, "--origin", "log.example/releases", "--key", file("logkey.key")).status == 0)
        #expect(try glassbox("log", "add", log, try manifest("1"), try manifest("2")).status == 0)
    }

    func manifest(_ name: String) throws -> String {
        let path = file("\(name).manifest")
        if !FileManager.default.fileExists(atPath: path) {
            let tree = dir.appendingPathComponent("tree")
            try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
            try Data("hello\n".utf8).write(to: tree.appendingPathComponent("README"))
            #expect(try glassbox("manifest", "--dir", tree.path, "--origin", "vendor.example/tree/\(name)", "--quiet", "-o", path).status == 0)
            #expect(try glassbox("sign", "--key", file("vendor.key"), path).status == 0)
        }
        return path
    }

    /// The log's key as people write it, `name+keyid`.
    func label(_ pub: String) throws -> String {
        let vkey = try String(contentsOfFile: file(pub), encoding: .utf8)
        return vkey.split(separator: "+")[0...1].joined(separator: "+")
    }

    func cosign(_ checkpoint: String, logKey: String, state: String = "w.state", extra: [String] = []) throws -> Result {
        try run(productsDirectory.appendingPathComponent("glassbox").path,
                ["witness", "cosign", "--key", file("w.key"), "--state", file(state), "--log-key", logKey, checkpoint] + extra)
    }

    /// The checkpoint with its size line changed and the signature kept.
    func tampered() throws -> String {
        let path = file("tampered-checkpoint")
        let text = try String(contentsOfFile: checkpoint, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[1] = "3"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

@Suite struct LogExitCodeTests {
    static let logKeyHint = "glassbox: hint: --log-key takes the log's verifier key: the .pub beside the log's key, or the vkey line of LOG/.glassbox/config\n"

    /// Bad input, exit 2: a log key file that is not a log's verifier key.
    @Test func aWrongLogKeyFileTypeIsBadInput() throws {
        let f = try ExitFixture()
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: f.file("garbage")))
        let cases = [
            (f.file("logkey.key"), "glassbox: error: \(f.file("logkey.key")): a PEM file (a private key), not the log's verifier key\n"),
            (f.file("w.pub"), "glassbox: error: \(f.file("w.pub")): a witness's cosignature key, not the log's verifier key\n"),
            (f.file("garbage"), "glassbox: error: \(f.file("garbage")):1: bad verifier key: 'not a key' is not NAME+KEYID+KEY\n"),
        ]
        for (key, error) in cases {
            let verified = try glassbox("log", "verify", f.log, "--log-key", key)
            #expect(verified.status == 2)
            #expect(verified.stdout.isEmpty)
            #expect(verified.stderr == error + LogExitCodeTests.logKeyHint)
            let cosigned = try f.cosign(f.checkpoint, logKey: key)
            #expect(cosigned.status == 2)
            #expect(cosigned.stderr == error + LogExitCodeTests.logKeyHint)
        }
    }

    /// Bad input, exit 2: a checkpoint with no signature by the named key at all; the error
    /// names the key that did sign.
    @Test func aCheckpointByAnotherKeyIsBadInput() throws {
        let f = try ExitFixture()
        let expected = "glassbox: error: \(f.checkpoint): no signature by the log key \(try f.label("other.pub")); it is signed by \(try f.label("logkey.pub"))\n"
        let verified = try glassbox("log", "verify", f.log, "--log-key", f.file("other.pub"))
        #expect(verified.status == 2)
        #expect(verified.stderr == expected
                + "glassbox: hint: check --log-key (without it, `glassbox log verify` uses the key in \(f.log)/.glassbox/config)\n")
        let cosigned = try f.cosign(f.checkpoint, logKey: f.file("other.pub"))
        #expect(cosigned.status == 2)
        #expect(cosigned.stdout.isEmpty)
        #expect(cosigned.stderr == expected + "glassbox: hint: check --log-key: it is the verifier key of the log that made \(f.checkpoint)\n")
        #expect(!FileManager.default.fileExists(atPath: f.file("w.state")), "nothing was cosigned")
    }

    /// Verification failed, exit 1: a checkpoint whose text changed after the log key signed it.
    @Test func aTamperedCheckpointFailsVerification() throws {
        let f = try ExitFixture()
        let tampered = try f.tampered()
        let failure = "the signature by the log key \(try f.label("logkey.pub")) does not verify: the checkpoint is not what that key signed"
        let cosigned = try f.cosign(tampered, logKey: f.file("logkey.pub"))
        #expect(cosigned.status == 1)
        #expect(cosigned.stdout == "glassbox: witness: REFUSED: \(tampered): \(failure)\n")
        // The log's own commands, with the tampered checkpoint in place.
        try FileManager.default.removeItem(atPath: f.checkpoint)
        try FileManager.default.copyItem(atPath: tampered, toPath: f.checkpoint)
        let verified = try glassbox("log", "verify", f.log)
        #expect(verified.status == 1)
        #expect(verified.stdout == "glassbox: log FAILED: \(f.checkpoint): \(failure)\n")
        for arguments in [["log", "add", f.log, try f.manifest("3")], ["log", "prove", f.log, try f.manifest("1")],
                          ["log", "consistency", f.log, "--from", "1"]] {
            let result = try run(productsDirectory.appendingPathComponent("glassbox").path, arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr == "glassbox: error: \(f.checkpoint): \(failure)\n", "\(arguments)")
        }
    }

    /// Verification failed, exit 1: a fork, seen by a witness (same size, another root) and by
    /// the log itself (a checkpoint rolled back behind the newest one it signed).
    @Test func aForkFailsVerification() throws {
        let f = try ExitFixture()
        let forkLog = f.file("fork")
        #expect(try glassbox("log", "init", forkLog, "--origin", "log.example/releases", "--key", f.file("logkey.key")).status == 0)
        #expect(try glassbox("log", "add", forkLog, try f.manifest("1"), try f.manifest("2-other")).status == 0)
        #expect(try f.cosign(f.checkpoint, logKey: f.file("logkey.pub")).status == 0)
        let split = try f.cosign(forkLog + "/checkpoint", logKey: f.file("logkey.pub"))
        #expect(split.status == 1)
        #expect(split.stdout.hasPrefix("glassbox: witness: REFUSED: split view: same size, different root"))

        let older = try Data(contentsOf: URL(fileURLWithPath: f.checkpoint))
        #expect(try glassbox("log", "add", f.log, try f.manifest("3")).status == 0)
        try older.write(to: URL(fileURLWithPath: f.checkpoint))
        let verified = try glassbox("log", "verify", f.log)
        #expect(verified.status == 1)
        #expect(verified.stdout.hasPrefix("glassbox: log FAILED: "))
        let added = try glassbox("log", "add", f.log, try f.manifest("4"))
        #expect(added.status == 1)
        #expect(added.stderr.contains("appending now could sign a fork"))
    }

    /// A witness shown a larger tree without a proof names the command that makes one, and that
    /// command, run as the hint says, makes a proof the witness accepts.
    @Test func aMissingConsistencyProofNamesTheCommandThatMakesOne() throws {
        let f = try ExitFixture()
        #expect(try f.cosign(f.checkpoint, logKey: f.file("logkey.pub")).status == 0)
        #expect(try glassbox("log", "add", f.log, try f.manifest("3"), try f.manifest("4")).status == 0)
        let refused = try f.cosign(f.checkpoint, logKey: f.file("logkey.pub"))
        #expect(refused.status == 1)
        #expect(refused.stdout.hasPrefix("glassbox: witness: REFUSED: no consistency proof from size 2 to 4"))
        #expect(refused.stderr == "glassbox: hint: the log makes one with `glassbox log consistency LOG --from 2 -o PROOF` "
                + "while its checkpoint is at size 4; pass it with --proof PROOF\n")
        #expect(try glassbox("log", "consistency", f.log, "--from", "2", "-o", f.file("proof")).status == 0)
        let accepted = try f.cosign(f.checkpoint, logKey: f.file("logkey.pub"), extra: ["--proof", f.file("proof")])
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        // A malformed proof file is bad input, named with its line.
        try Data("glassbox-consistency-proof v1\nold x\n".utf8).write(to: URL(fileURLWithPath: f.file("bad-proof")))
        let malformed = try f.cosign(f.checkpoint, logKey: f.file("logkey.pub"), extra: ["--proof", f.file("bad-proof")])
        #expect(malformed.status == 2)
        #expect(malformed.stderr.hasPrefix("glassbox: error: \(f.file("bad-proof")):"))
    }
}

import Foundation
import Testing

/// Three release keys and a policy a reviewer wrote by hand around the first, with a comment and
/// odd spacing that an edit must keep.
private struct PolicyFixture {
    let dir: URL
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }
    var policy: String { file("trust") }
    static let original = "# reviewed 2026-11-02 by the center\nglassbox-trust v1\nthreshold   1\n"

    init() throws {
        dir = try temporaryDirectory("trust")
        for name in ["a", "b", "c"] {
            #expect(try glassbox("keygen", "--name", "vendor.example/\(name)", "-o", file(name)).status == 0)
        }
        try Data((PolicyFixture.original + "key \(vkey("a"))\n\n# end\n").utf8).write(to: URL(fileURLWithPath: policy))
    }

    func vkey(_ name: String) throws -> String {
        try String(contentsOfFile: file("\(name).pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
    }

    func text() throws -> String { try String(contentsOfFile: policy, encoding: .utf8) }
}

private func glassbox(_ arguments: [String]) throws -> Result {
    try run(productsDirectory.appendingPathComponent("glassbox").path, arguments)
}

@Suite struct TrustEditTests {
    @Test func addAppendsOneCheckedLineAndKeepsTheRest() throws {
        let f = try PolicyFixture()
        let before = try f.text()
        let added = try glassbox("trust", "add", f.policy, "--key", f.file("b.pub"), "--origins", "vendor.example/router/*", "--not-after", "2030-12-31")
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stderr.hasPrefix("glassbox: added key vendor.example/b+"))
        #expect(try f.text() == before + "key \(try f.vkey("b")) origins=vendor.example/router/* not-after=2030-12-31\n")
        // A rebuilder, with the rebuild threshold set in the same edit.
        #expect(try glassbox("trust", "add", f.policy, "--rebuilder", try f.vkey("c"), "--rebuild-threshold", "1").status == 0)
        #expect(try f.text().hasSuffix("\nrebuilder \(try f.vkey("c"))\nrebuild-threshold 1\n"))
        // --threshold rewrites only the threshold line.
        #expect(try glassbox("trust", "add", f.policy, "--key", f.file("c.pub"), "--threshold", "2").status == 0)
        let lines = try f.text().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "# reviewed 2026-11-02 by the center")
        #expect(lines[2] == "threshold 2")
        let lastKey = "key \(try f.vkey("c"))"
        #expect(lines.last == "" && lines[lines.count - 2] == lastKey)
    }

    @Test func addRefusesTheSameKeyUnderAnyNameAndBadLines() throws {
        let f = try PolicyFixture()
        let before = try f.text()
        // Key a under another name: a different vkey string, the same public key.
        let renamed = try glassbox("key", "pub", f.file("a.key"), "--name", "other.example/a")
        #expect(renamed.status == 0)
        let again = try glassbox("trust", "add", f.policy, "--key", renamed.stdout.trimmingCharacters(in: .newlines))
        #expect(again.status == 2)
        #expect(again.stderr.hasPrefix("glassbox: error: \(f.policy) already lists that public key, as key vendor.example/a+"))
        // A date that does not exist, an empty origin: the edited policy would not parse.
        let badDate = try glassbox("trust", "add", f.policy, "--key", f.file("b.pub"), "--not-before", "2026-02-30")
        #expect(badDate.status == 2)
        #expect(badDate.stderr.contains("'2026-02-30' is not a date YYYY-MM-DD"))
        let badOrigin = try glassbox("trust", "add", f.policy, "--key", f.file("b.pub"), "--origins", "a,,b")
        #expect(badOrigin.status == 2)
        #expect(badOrigin.stderr.contains("the edited policy would not parse"))
        // Not a key at all.
        let notKey = try glassbox("trust", "add", f.policy, "--key", "vendor.example/b")
        #expect(notKey.status == 2)
        // Both lists at once is a usage error.
        #expect(try glassbox("trust", "add", f.policy, "--key", f.file("b.pub"), "--rebuilder", f.file("c.pub")).status == 64)
        #expect(try f.text() == before)
    }

    @Test func removeTakesANameAPubFileOrAVkeyAndRefusesWhatWouldNotParse() throws {
        let f = try PolicyFixture()
        #expect(try glassbox("trust", "add", f.policy, "--key", f.file("b.pub")).status == 0)
        #expect(try glassbox("trust", "add", f.policy, "--key", f.file("c.pub"), "--threshold", "3").status == 0)
        #expect(try glassbox("trust", "add", f.policy, "--rebuilder", f.file("c.pub")).status == 0)
        let full = try f.text()
        // Removing a key would leave a threshold of 3 with 2 keys: refused, file unchanged.
        let tooFew = try glassbox("trust", "remove", f.policy, "vendor.example/b")
        #expect(tooFew.status == 2)
        #expect(tooFew.stderr == "glassbox: error: \(f.policy): the edited policy would not parse (the threshold 3 is more than the 2 keys listed); the policy is unchanged\n"
                + "glassbox: hint: set the threshold in the same edit with --threshold K or --rebuild-threshold K\n")
        #expect(try f.text() == full)
        // By name, lowering the threshold in the same edit.
        let byName = try glassbox("trust", "remove", f.policy, "vendor.example/b", "--threshold", "2")
        #expect(byName.status == 0, "\(byName.stderr)")
        #expect(try f.text() == full.replacingOccurrences(of: "key \(try f.vkey("b"))\n", with: "").replacingOccurrences(of: "threshold 3", with: "threshold 2"))
        // By .pub file: both lines holding key c, the release key and the rebuilder.
        let byFile = try glassbox("trust", "remove", f.policy, f.file("c.pub"), "--threshold", "1")
        #expect(byFile.status == 0, "\(byFile.stderr)")
        #expect(byFile.stderr.contains("key vendor.example/c+") && byFile.stderr.contains("rebuilder vendor.example/c+"))
        #expect(!(try f.text()).contains(try f.vkey("c")))
        // Nothing matches: refused, and the names listed are shown.
        let before = try f.text()
        let none = try glassbox("trust", "remove", f.policy, "vendor.example/zz")
        #expect(none.status == 2)
        #expect(none.stderr == "glassbox: error: \(f.policy): no key or rebuilder line names vendor.example/zz; the policy is unchanged\n"
                + "glassbox: hint: the policy lists: key vendor.example/a\n")
        // By vkey string under another name: the same public key is the same signer.
        let renamed = try glassbox("key", "pub", f.file("a.key"), "--name", "other.example/a").stdout.trimmingCharacters(in: .newlines)
        let last = try glassbox("trust", "remove", f.policy, renamed)
        #expect(last.status == 2)   // the policy's only key: threshold 1 of 0 keys would not parse
        #expect(try f.text() == before)
    }

    @Test func aPolicyThatDoesNotParseIsNotEdited() throws {
        let f = try PolicyFixture()
        try Data("glassbox-trust v1\nthreshold 1\nkey nonsense\n".utf8).write(to: URL(fileURLWithPath: f.policy))
        let refused = try glassbox("trust", "add", f.policy, "--key", f.file("b.pub"))
        #expect(refused.status == 2)
        #expect(refused.stderr.hasPrefix("glassbox: error: \(f.policy):3: "))
        #expect(try f.text() == "glassbox-trust v1\nthreshold 1\nkey nonsense\n")
        let missing = try glassbox("trust", "add", f.file("nope"), "--key", f.file("b.pub"))
        #expect(missing.status == 2)
        #expect(!FileManager.default.fileExists(atPath: f.file("nope")))
    }

    @Test func concurrentEditsQueueAndKeepEveryLine() throws {
        let f = try PolicyFixture()
        var names: [String] = []
        for i in 0..<12 {
            #expect(try glassbox("keygen", "--name", "vendor.example/k\(i)", "-o", f.file("k\(i)")).status == 0)
            names.append("k\(i)")
        }
        var processes: [Process] = []
        for name in names {
            let process = Process()
            process.executableURL = productsDirectory.appendingPathComponent("glassbox")
            process.arguments = ["trust", "add", f.policy, "--key", f.file("\(name).pub")]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            processes.append(process)
        }
        for process in processes { try process.run() }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let text = try f.text()
        for name in names { #expect(text.contains(try f.vkey(name)), "\(name) was lost") }
        #expect(text.hasPrefix(PolicyFixture.original))
    }

    @Test func aSymlinkedPolicyIsEditedWhereItPoints() throws {
        let f = try PolicyFixture()
        let link = f.file("trust-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: f.policy)
        #expect(try glassbox("trust", "add", link, "--key", f.file("b.pub")).status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == f.policy)
        #expect(try f.text().contains(try f.vkey("b")))
    }
}

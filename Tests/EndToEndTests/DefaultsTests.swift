import Foundation
import Testing

/// Derived defaults are always valid, and every hint is a command that works.
@Suite struct DefaultsTests {
    @Test func aRepositoryNamedWithAPlusGetsAValidOrigin() throws {
        let base = try temporaryDirectory()
        let repo = base.appendingPathComponent("curl+curl")
        #expect(try run("git", ["clone", "-q", "--bare", fixtureRoot.appendingPathComponent("plain").path, repo.path]).status == 0)
        let made = try glassbox("manifest", "--repo", repo.path, "--rev", "v2.0.0")
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.hasPrefix("curl-curl/2.0.0\n"))
        #expect(made.stdout.contains("\nname curl+curl\n"))
        let spaced = base.appendingPathComponent("my release")
        try FileManager.default.createDirectory(at: spaced, withIntermediateDirectories: true)
        try Data("x\n".utf8).write(to: spaced.appendingPathComponent("a.txt"))
        let fromDir = try glassbox("manifest", "--dir", spaced.path)
        #expect(fromDir.status == 0, "\(fromDir.stderr)")
        #expect(fromDir.stdout.hasPrefix("my-release/unversioned\n"))
    }

    /// A bad origin given by hand is refused with a hint whose example is itself valid.
    @Test func theHintForABadOriginIsValid() throws {
        let made = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                "--origin", "bad origin")
        #expect(made.status == 2)
        let hint = made.stderr.split(separator: "\n").first { $0.hasPrefix("glassbox: hint:") }.map(String.init) ?? ""
        let example = hint.split(separator: " ").first { $0.contains("example.com/") }.map(String.init) ?? ""
        #expect(!example.isEmpty, "\(made.stderr)")
        let again = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                 "--origin", example.trimmingCharacters(in: .punctuationCharacters.subtracting(CharacterSet(charactersIn: "/"))))
        #expect(again.status == 0, "\(again.stderr)")
    }
}

import Foundation
import Testing

/// The OASIS SARIF 2.1.0 (Errata 01) schema, kept beside its terms in Tests/Schemata.
private let schema = repositoryRoot.appendingPathComponent("Tests/Schemata/sarif-schema-2.1.0.json")

/// Validates `sarif` against the schema; returns the validator's complaints, empty when valid.
private func schemaErrors(_ sarif: Data, name: String = #function) throws -> String {
    try jsonSchemaErrors(sarif, schema: schema, name: name)
}

private func sarif(_ arguments: [String]) throws -> (data: Data, object: [String: Any]) {
    let result = try run(productsDirectory.appendingPathComponent("glassbox").path, ["scan"] + arguments + ["--sarif"])
    #expect(result.status == 0 || result.status == 1, "\(result.stderr)")
    return (result.stdoutBytes, try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any])
}

@Suite struct SarifTests {
    @Test func theSchemaIsTheOneOASISPublishes() throws {
        // sha256sum Tests/Schemata/sarif-schema-2.1.0.json; the same digest is in its LICENSE.md.
        let digest = try run("sha256sum", [schema.path]).stdout
        #expect(digest.hasPrefix("c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"))
    }

    @Test func aScanOfARevisionIsValidSarifThatCodeScanningToolsCanTrack() throws {
        let release = try SignedTrojanRelease()
        let out = try sarif(["--repo", release.repo.path, "--rev", "v1.0.0"])
        let errors = try schemaErrors(out.data)
        #expect(errors.isEmpty, "\(errors)")

        let run = try #require((out.object["runs"] as? [[String: Any]])?.first)
        #expect(run["columnKind"] as? String == "unicodeCodePoints")
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        #expect(driver["name"] as? String == "glassbox")
        #expect((driver["version"] as? String)?.isEmpty == false)
        #expect(driver["informationUri"] == nil, "no page to name, so none is made up")
        let rules = try #require(driver["rules"] as? [[String: Any]])
        for rule in rules {
            #expect(((rule["help"] as? [String: Any])?["text"] as? String)?.isEmpty == false, "\(rule["id"]!)")
            let score = try #require((rule["properties"] as? [String: Any])?["security-severity"] as? String, "\(rule["id"]!)")
            #expect(Double(score).map { (0.1...10).contains($0) } == true)
        }
        let bidi = try #require(rules.first { $0["id"] as? String == "bidi-unterminated" })
        #expect((bidi["properties"] as? [String: Any])?["security-severity"] as? String == "8.0")

        // The commit the revision names, resolved: a tag is not a commit id.
        let commit = try #require(try runGit(["-C", release.repo.path, "rev-parse", "v1.0.0^{commit}"]))
        let provenance = try #require((run["versionControlProvenance"] as? [[String: Any]])?.first)
        #expect(provenance["revisionId"] as? String == commit)
        #expect(provenance["repositoryUri"] as? String == "file://" + release.repo.standardizedFileURL.path)

        // Each result carries a fingerprint and its occurrence number in the file.
        let results = try #require(run["results"] as? [[String: Any]])
        let prints = results.compactMap { ($0["partialFingerprints"] as? [String: String])?["glassbox/v2"] }
        #expect(prints.count == 1)
        #expect(prints.first?.hasSuffix(":1") == true)
        #expect(prints.allSatisfy { $0.range(of: "^[0-9a-f]{32}:[0-9]+$", options: .regularExpression) != nil }, "\(prints)")
    }

    @Test func aDirectoryScanHasNoProvenanceAndExceptionsAreSuppressions() throws {
        let root = try temporaryDirectory()
        try Data("int a; /*\u{202E} x */\n".utf8).write(to: root.appendingPathComponent("t.c"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("abs").path, withDestinationPath: "/etc/x")
        let before = try sarif(["--dir", root.path])
        let run = try #require((before.object["runs"] as? [[String: Any]])?.first)
        #expect(run["versionControlProvenance"] == nil)
        let results = try #require(run["results"] as? [[String: Any]])
        let link = try #require(results.first { $0["ruleId"] as? String == "symlink-absolute" })
        let fingerprint = try #require((link["partialFingerprints"] as? [String: String])?["glassbox/v2"]?.prefix(32))
        let exceptions = try temporaryDirectory("side").appendingPathComponent("exceptions")
        try Data("glassbox-scan-exceptions v2\nabs symlink-absolute \(fingerprint) wanted\n".utf8).write(to: exceptions)

        let old = try temporaryDirectory("side").appendingPathComponent("old.sarif")
        try before.data.write(to: old)
        try Data("int b; /*\u{202E} y */\n".utf8).write(to: root.appendingPathComponent("u.c"))
        let after = try sarif(["--dir", root.path, "--exceptions", exceptions.path, "--baseline", old.path])
        let errors = try schemaErrors(after.data)
        #expect(errors.isEmpty, "\(errors)")
        let afterResults = try #require((after.object["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])
        let suppressed = afterResults.filter { $0["suppressions"] != nil }
        #expect(suppressed.count == 1)
        let suppression = try #require((suppressed.first?["suppressions"] as? [[String: Any]])?.first)
        #expect(suppression["kind"] as? String == "external")
        #expect(suppression["justification"] as? String == "\(exceptions.path):2: wanted")
        let new = afterResults.filter { $0["suppressions"] == nil }
        #expect(new.count == 1)   // u.c's finding; t.c's is in the baseline
        #expect(new.allSatisfy { $0["baselineState"] as? String == "new" })
    }

    @Test func theValidatorCatchesWhatTheSchemaForbids() throws {
        // A document the schema refuses (a level outside its enum), so a silent validator
        // cannot pass the tests above.
        let bad = Data(#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}"#.utf8)
        #expect(try schemaErrors(bad).contains("fatal"))
    }
}

private func runGit(_ arguments: [String]) throws -> String? {
    let result = try run("git", arguments)
    return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
}

import Foundation
import Testing

// Every JSON output has a published schema in Manifests/schemas/, named after its media type
// (`application/vnd.glassbox.NAME.v1+json` → `NAME.v1.schema.json`). The schemas list every
// field and allow no others, so a field added to an output without its schema fails here.

private let schemas = repositoryRoot.appendingPathComponent("Manifests/schemas")

/// The schema for a media type's NAME.
private func schema(_ name: String) -> URL { schemas.appendingPathComponent("\(name).v1.schema.json") }

/// Checks one command's JSON output against its schema and returns it parsed.
@discardableResult
private func expectValid(_ result: Result, _ name: String, exits: Set<Int32> = [0, 1],
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    #expect(exits.contains(result.status), "\(result.stderr)", sourceLocation: sourceLocation)
    let errors = try jsonSchemaErrors(result.stdoutBytes, schema: schema(name))
    #expect(errors.isEmpty, "\(name): \(errors)\n\(result.stdout)", sourceLocation: sourceLocation)
    let object = try #require(try JSONSerialization.jsonObject(with: result.stdoutBytes) as? [String: Any])
    #expect(object["mediaType"] as? String == "application/vnd.glassbox.\(name).v1+json", sourceLocation: sourceLocation)
    #expect(object["toolVersion"] as? String == glassboxVersion, sourceLocation: sourceLocation)
    return object
}

/// What `glassbox --version` prints, which every JSON output names as `toolVersion`.
private var glassboxVersion: String {
    (try? glassbox("--version").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
}

@Suite struct SchemaTests {
    @Test func everyMediaTypeInTheSourcesHasItsSchemaAndNoSchemaIsOrphaned() throws {
        let sources = repositoryRoot.appendingPathComponent("Sources")
        let found = try run("grep", ["-rhoE", "application/vnd\\.glassbox\\.[a-z-]+\\.v1\\+json", sources.path])
        let mediaTypes = Set(found.stdout.split(separator: "\n").map(String.init))
        #expect(mediaTypes.count >= 5, "\(mediaTypes)")
        let files = try FileManager.default.contentsOfDirectory(atPath: schemas.path).filter { $0.hasSuffix(".schema.json") }
        #expect(Set(files) == Set(mediaTypes.map { $0.split(separator: ".")[2] + ".v1.schema.json" }), "\(files) vs \(mediaTypes)")
        for mediaType in mediaTypes {
            let name = String(mediaType.split(separator: ".")[2])
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: schema(name))) as! [String: Any]
            let properties = object["properties"] as! [String: Any]
            #expect((properties["mediaType"] as? [String: Any])?["const"] as? String == mediaType)
            #expect(object["additionalProperties"] as? Bool == false, "\(name) allows fields it does not list")
        }
    }

    @Test func aFieldTheSchemaDoesNotListIsRejected() throws {
        let root = try temporaryDirectory()
        try Data("int a;\n".utf8).write(to: root.appendingPathComponent("a.c"))
        let result = try glassbox("scan", "--dir", root.path, "--json")
        var object = try #require(try JSONSerialization.jsonObject(with: result.stdoutBytes) as? [String: Any])
        #expect(try jsonSchemaErrors(result.stdoutBytes, schema: schema("scan")).isEmpty)
        object["surprise"] = true
        let errors = try jsonSchemaErrors(try JSONSerialization.data(withJSONObject: object), schema: schema("scan"))
        #expect(errors.contains("'surprise'"), "\(errors)")
    }

    @Test func verificationOutputsPassingFailingAndWithFindings() throws {
        let release = try SignedRelease()
        let tree = try unpackArchive(release.repo, "v2.0.0")
        let good = try expectValid(release.verifyDirectory(tree, extra: ["--json"]), "verification", exits: [0])
        #expect(good["verified"] as? Bool == true)
        // Differences, an unlisted artifact: failures with subjects.
        try Data("changed\n".utf8).write(to: tree.appendingPathComponent("README"))
        try Data("x\n".utf8).write(to: release.artifacts.appendingPathComponent("unlisted.sig"))
        let bad = try expectValid(release.verifyDirectory(tree, extra: ["--json"]), "verification", exits: [1])
        #expect((bad["findings"] as? [Any])?.isEmpty == false)
        // A scope: one artifact named, and unlisted signatures ignored by a glob.
        let named = try expectValid(verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path,
                                                   "--rev", "v2.0.0", "--artifact", release.artifacts.appendingPathComponent("plain-linux-amd64").path, "--json"]),
                                    "verification", exits: [0])
        #expect((named["checked"] as? [String: Any])?["artifactsNotChecked"] as? [String] == ["plain-2.0.0.tar.gz"])
        let ignored = try expectValid(verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--repo", release.repo.path,
                                                     "--rev", "v2.0.0", "--artifacts", release.artifacts.path, "--ignore-unlisted", "*.sig", "--json"]),
                                      "verification", exits: [0])
        #expect(((ignored["checked"] as? [String: Any])?["ignoredUnlisted"] as? [[String: Any]])?.first?["files"] as? [String] == ["unlisted.sig"])

        // Scan findings, counted and not counted, from git.
        let trojan = try SignedTrojanRelease()
        let common = ["--manifest", trojan.manifest, "--trust", trojan.trust, "--repo", trojan.repo.path, "--rev", "v1.0.0", "--json"]
        let failed = try expectValid(verifyRelease(common), "verification", exits: [1])
        #expect(failed["scanFailOnSource"] as? String == "default")
        let counted = try expectValid(verifyRelease(common + ["--fail-on", "none"]), "verification", exits: [0])
        #expect((counted["scanCounts"] as? [String: Int])?["error"] ?? 0 > 0)
    }

    @Test func scanOutputsPlainWithBaselineAndWithExceptions() throws {
        let root = try temporaryDirectory()
        try Data("int a; /*\u{202E} x */\nint b\u{200B}c;\n".utf8).write(to: root.appendingPathComponent("t.c"))
        try Data("*.c filter=lfs\n".utf8).write(to: root.appendingPathComponent(".gitattributes"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("abs").path, withDestinationPath: "/etc/x")
        let plain = try expectValid(glassbox("scan", "--dir", root.path, "--json"), "scan")
        let findings = try #require(plain["findings"] as? [[String: Any]])
        #expect(findings.count >= 3, "\(findings)")

        let side = try temporaryDirectory("side")
        let baseline = side.appendingPathComponent("baseline.json")
        try glassbox("scan", "--dir", root.path, "--json").stdoutBytes.write(to: baseline)
        let again = try expectValid(glassbox("scan", "--dir", root.path, "--json", "--baseline", baseline.path), "scan")
        #expect(again["baseline"] != nil)

        let link = try #require(findings.first { $0["rule"] as? String == "symlink-absolute" })
        let exceptions = side.appendingPathComponent("exceptions")
        try Data("""
            glassbox-scan-exceptions v2
            abs symlink-absolute \(link["fingerprint"]!) made by the installer
            gone.c bidi-control 0123456789abcdef0123456789abcdef an old exception

            """.utf8).write(to: exceptions)
        let excepted = try expectValid(glassbox("scan", "--dir", root.path, "--json", "--exceptions", exceptions.path), "scan")
        #expect((excepted["excepted"] as? [Any])?.count == 1)
        #expect((excepted["unusedExceptions"] as? [Any])?.count == 1)
    }

    @Test func diffOutputsEveryKindOfChangeAndNewFindings() throws {
        let all = try expectValid(glassbox("diff", "--repo", sample.path, "v1.0.0", "v1.1.0", "--json", "--content"), "diff")
        let kinds = Set((all["changes"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String })
        #expect(kinds.isSuperset(of: ["added", "removed", "modified", "renamed", "retargeted", "submodule-moved"]), "\(kinds)")

        let dir = try temporaryDirectory()
        for (side, text) in [("old", "int a;\n"), ("new", "int a; /*\u{202E} x */\n")] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(side), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: dir.appendingPathComponent("\(side)/t.c"))
        }
        let attacked = try expectValid(glassbox("diff", dir.appendingPathComponent("old").path, dir.appendingPathComponent("new").path, "--json"), "diff")
        #expect((attacked["scanFindings"] as? [Any])?.isEmpty == false)
        try expectValid(glassbox("diff", dir.appendingPathComponent("old").path, dir.appendingPathComponent("old").path, "--json"), "diff", exits: [0])
    }

    @Test func inspectOutputsForGitAndDirectoryManifests() throws {
        let release = try SignedRelease()
        let git = try expectValid(glassbox("inspect", "--json", release.manifest), "inspect", exits: [0])
        #expect((git["artifacts"] as? [Any])?.count == 2)
        let dir = try temporaryDirectory()
        let manifest = dir.appendingPathComponent("m").path
        #expect(try glassbox("manifest", "--dir", unpackArchive(release.repo, "v2.0.0").path, "--origin", "vendor.example/plain/2.0.0",
                             "--name", "plain", "--version", "2.0.0", "-o", manifest).status == 0)
        try expectValid(glassbox("inspect", "--json", manifest), "inspect", exits: [0])
    }
}

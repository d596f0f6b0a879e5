import Foundation
import Testing

// `glassbox scan --repo` on a repository whose attributes are the usual kind: one finding per
// line that changes bytes, its paths in JSON and SARIF, nothing for lines that change nothing.

/// A repository whose files are committed before its `.gitattributes`, so the blobs keep LF.
private func releaseLikeRepository() throws -> URL {
    let dir = try temporaryDirectory("attributes")
    try git(["init", "-q"], in: dir)
    var files = ["run.bat": "@echo run\n", "setup.bat": "@echo setup\n", "lib/x.bin": "x\n"]
    for i in 0..<20 { files["src/f\(i).c"] = "int f\(i);\n" }
    for (path, content) in files {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
    }
    try git(["add", "-A"], in: dir)
    try git(["commit", "-q", "-m", "files"], in: dir)
    try Data("* text=auto eol=lf\n*.c text diff=cpp\n*.bat text eol=crlf\n*.bin filter=lfs -text\n".utf8)
        .write(to: dir.appendingPathComponent(".gitattributes"))
    try git(["add", ".gitattributes"], in: dir)
    try git(["commit", "-q", "-m", "attributes"], in: dir)
    return dir
}

@Suite struct AttributeScanTests {
    @Test func oneFindingPerLineWithItsPathsInJSON() throws {
        let repo = try releaseLikeRepository()
        let result = try glassbox("scan", "--repo", repo.path, "--json")
        #expect(result.status == 0, "\(result.stderr)")   // warnings only
        let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
        let findings = (object["findings"] as! [[String: Any]]).filter { ($0["rule"] as! String).hasPrefix("gitattributes") }
        #expect(findings.map { "\($0["rule"]!) \($0["path"]!):\($0["line"]!) \($0["severity"]!)" } == [
            "gitattributes-eol .gitattributes:3 warning", "gitattributes-filter .gitattributes:4 warning",
        ])
        #expect(findings.map { $0["paths"] as? [String] ?? [] } == [["run.bat", "setup.bat"], ["lib/x.bin"]])
        #expect((findings[0]["message"] as! String).contains("2 files stored with LF: run.bat, setup.bat"))
        // Findings that stand for no other paths have no "paths" key, as before.
        let other = (object["findings"] as! [[String: Any]]).filter { !($0["rule"] as! String).hasPrefix("gitattributes") }
        #expect(other.allSatisfy { $0["paths"] == nil })
    }

    @Test func sarifCarriesThePathsInItsPropertyBag() throws {
        let repo = try releaseLikeRepository()
        let result = try glassbox("scan", "--repo", repo.path, "--sarif")
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
        let results = ((object["runs"] as! [[String: Any]])[0]["results"] as! [[String: Any]])
            .filter { ($0["ruleId"] as! String).hasPrefix("gitattributes") }
        #expect(results.count == 2)
        let properties = results.first?["properties"] as? [String: Any]
        #expect(properties?["paths"] as? [String] == ["run.bat", "setup.bat"])
        let location = ((results.first?["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])
        #expect((location?["region"] as? [String: Any])?["startLine"] as? Int == 3)
        #expect((location?["artifactLocation"] as? [String: Any])?["uri"] as? String == ".gitattributes")
    }
}

import Foundation
import Testing

@Suite struct VersionTests {
    @Test func bothExecutablesPrintOneVersionAndSarifNamesIt() throws {
        let tool = try glassbox("--version")
        #expect(tool.status == 0, "\(tool.stderr)")
        #expect(tool.stdout.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+\n$"#, options: .regularExpression) != nil, "\(tool.stdout)")
        // verify-release's required --trust does not stand in the way.
        let reviewer = try run(productsDirectory.appendingPathComponent("verify-release").path, ["--version"])
        #expect(reviewer.status == 0, "\(reviewer.stderr)")
        #expect(reviewer.stdout == tool.stdout)
        // SARIF names the same version as the tool's driver.
        let root = try temporaryDirectory()
        try Data("int x;\n".utf8).write(to: root.appendingPathComponent("a.c"))
        let sarif = try run(productsDirectory.appendingPathComponent("glassbox").path, ["scan", "--dir", root.path, "--sarif"])
        let object = try JSONSerialization.jsonObject(with: sarif.stdoutBytes) as! [String: Any]
        let driver = ((object["runs"] as! [[String: Any]])[0]["tool"] as! [String: Any])["driver"] as! [String: Any]
        #expect(driver["version"] as? String == tool.stdout.trimmingCharacters(in: .newlines))
    }
}

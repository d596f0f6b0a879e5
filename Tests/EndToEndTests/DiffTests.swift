import Foundation
import Testing

/// The changes `glassbox diff --json` lists, as "kind path" or "kind old → new" lines.
private func changeList(_ result: Result) throws -> [String] {
    let object = try JSONSerialization.jsonObject(with: result.stdoutBytes) as! [String: Any]
    #expect(object["mediaType"] as? String == "application/vnd.glassbox.diff.v1+json")
    return (object["changes"] as! [[String: Any]]).map { change in
        let kind = change["kind"] as! String
        let path = change["path"] as! String
        return (change["oldPath"] as? String).map { "\(kind) \($0) → \(path)" } ?? "\(kind) \(path)"
    }
}

/// Every change class between the fixture's two releases, and nothing else.
private let fixtureChanges = [
    "added <img src=x onerror=alert(1)>.txt",
    "mode-changed Makefile",
    "kind-changed data.bin",
    "added docs/new.txt",
    "removed docs/old.txt",
    "retargeted docs/readme-link",
    "renamed docs/rename-me.txt → docs/renamed.txt",
    "modified logo.png",
    "modified src/main.c",
    "submodule-moved vendor/lib",
]

@Suite struct DiffTests {
    @Test func revisionsListExactlyTheExpectedChanges() throws {
        let result = try glassbox("diff", "--repo", sample.path, "v1.0.0", "v1.1.0", "--json")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try changeList(result) == fixtureChanges)
    }

    @Test func manifestsListExactlyTheExpectedChanges() throws {
        let dir = try temporaryDirectory()
        for rev in ["v1.0.0", "v1.1.0"] {
            #expect(try glassbox("manifest", "--repo", sample.path, "--rev", rev, "-o", dir.appendingPathComponent(rev).path).status == 0)
        }
        let result = try glassbox("diff", dir.appendingPathComponent("v1.0.0").path, dir.appendingPathComponent("v1.1.0").path, "--json")
        #expect(result.status == 1)
        #expect(try changeList(result) == fixtureChanges)
        let same = try glassbox("diff", dir.appendingPathComponent("v1.0.0").path, dir.appendingPathComponent("v1.0.0").path)
        #expect(same.status == 0)
        #expect(same.stdout.hasPrefix("glassbox: diff: identical\n"))
    }

    @Test func directoriesListExactlyTheExpectedChanges() throws {
        let old = try unpackArchive(sample, "v1.0.0")
        let new = try unpackArchive(sample, "v1.1.0")
        let result = try glassbox("diff", old.path, new.path, "--json")
        #expect(result.status == 1)
        // git archive carries no submodule, so a directory has no pin to compare.
        #expect(try changeList(result) == fixtureChanges.filter { !$0.hasPrefix("submodule-moved") })
    }

    @Test func contentDiffsFromGitAndDirectories() throws {
        let git = try glassbox("diff", "--repo", sample.path, "v1.0.0", "v1.1.0", "--content")
        #expect(git.stdout.contains("-int main(void) { puts(\"hello\"); return 0; }\n+int main(void) { puts(\"hello, world\"); return 0; }"))
        #expect(git.stdout.contains("(binary: 12 bytes sha256 "))
        let dirs = try glassbox("diff", try unpackArchive(sample, "v1.0.0").path, try unpackArchive(sample, "v1.1.0").path,
                                "--content", "--max-bytes", "40")
        #expect(dirs.stdout.contains("--- content: src/main.c\n(cut at 40 of "))
        #expect(dirs.stdout.contains("diff --git a/src/main.c b/src/main.c"))
    }

    @Test func trustedAndUntrustedSides() throws {
        let dir = try temporaryDirectory()
        let (a, b) = (dir.appendingPathComponent("a.m").path, dir.appendingPathComponent("b.m").path)
        #expect(try glassbox("manifest", "--repo", sample.path, "--rev", "v1.0.0", "-o", a).status == 0)
        #expect(try glassbox("manifest", "--repo", sample.path, "--rev", "v1.1.0", "-o", b).status == 0)
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", dir.appendingPathComponent("k").path).status == 0)
        #expect(try glassbox("sign", "--key", dir.appendingPathComponent("k.key").path, a).status == 0)
        let trust = dir.appendingPathComponent("trust").path
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", trust, dir.appendingPathComponent("k.pub").path).status == 0)
        let result = try glassbox("diff", a, b, "--trust", trust)
        #expect(result.status == 1)
        #expect(result.stdout.contains("old  \(a) (manifest sample/1.0.0) — trusted: signed by vendor.example/k (1 of 1 required)"))
        #expect(result.stdout.contains("new  \(b) (manifest sample/1.1.0) — NOT trusted: 0 of the 1 required trusted signatures"))
        let required = try glassbox("diff", a, b, "--trust", trust, "--require-trusted")
        #expect(required.status == 2)
        #expect(required.stderr.hasPrefix("glassbox: error: \(b) (manifest sample/1.1.0) is not signed"))
    }

    @Test func badInputIsExit2() throws {
        let dir = try temporaryDirectory()
        let bad = dir.appendingPathComponent("bad.m")
        try Data("garbage\n".utf8).write(to: bad)
        let unparseable = try glassbox("diff", bad.path, bad.path)
        #expect(unparseable.status == 2)
        #expect(unparseable.stderr.hasPrefix("glassbox: error: \(bad.path)"))
        let missing = try glassbox("diff", "--repo", sample.path, "v1.0.0", "v9")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("revision 'v9'"))
    }

    /// The offline HTML report in headless Chromium: no console errors, hostile names as text.
    @Test func htmlRendersOfflineWithHostileNamesAsText() throws {
        let chromium = ["chromium", "chromium-browser"].first { name in
            (try? run("which", [name]).status) == 0
        }
        let browser = try #require(chromium, "headless Chromium is needed (Debian chromium; Scripts/test installs it)")
        let dir = try temporaryDirectory()
        let html = dir.appendingPathComponent("diff.html")
        let made = try glassbox("diff", "--repo", sample.path, "v1.0.0", "v1.1.0", "--content", "--html", html.path)
        #expect(made.status == 1)
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"))
        #expect(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"))
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"))

        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(dir.path)/profile"]
        let dom = try run(browser, flags + ["--dump-dom", html.absoluteString])
        #expect(dom.status == 0)
        #expect(dom.stdout.contains("&lt;img src=x onerror=alert(1)&gt;.txt"))
        #expect(!dom.stdout.contains("<img"), "a path became markup")
        let shot = dir.appendingPathComponent("diff.png").path
        let rendered = try run(browser, flags + ["--enable-logging=stderr", "--v=0", "--window-size=1200,1000",
                                                 "--screenshot=\(shot)", html.absoluteString])
        #expect(rendered.status == 0)
        #expect(FileManager.default.fileExists(atPath: shot))
        let consoleLines = rendered.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") }
        #expect(consoleLines.isEmpty, "\(consoleLines)")
    }
}

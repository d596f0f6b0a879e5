import Foundation
import Testing

/// A signed release of one source file with four artifacts (`linux/tool` in a subdirectory),
/// and its trust policy; `dist` also holds two unlisted signatures, `tool.sig` and
/// `linux/tool.sig`, as vendors ship them.
private struct ArtifactRelease {
    let dir: URL
    var manifest: String { path("release.manifest") }
    var trust: String { path("trust") }
    var dist: String { path("dist") }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init() throws {
        dir = try temporaryDirectory("artifacts")
        let fm = FileManager.default
        for sub in ["src", "dist/linux"] { try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try Data("int main(void) { return 0; }\n".utf8).write(to: dir.appendingPathComponent("src/main.c"))
        for name in ["tool", "tool-arm", "manual.pdf", "linux/tool"] {
            try Data("the artifact \(name)\n".utf8).write(to: dir.appendingPathComponent("dist/\(name)"))
        }
        let made = try glassbox("keygen", "--name", "vendor.example/key", "-o", path("vendor"))
        #expect(made.status == 0, "\(made.stderr)")
        let manifest = try glassbox("manifest", "--dir", path("src"), "--origin", "vendor.example/tool/1.0", "--name", "tool",
                                    "--version", "1.0", "--artifact", dist, "--quiet", "-o", self.manifest)
        #expect(manifest.status == 0, "\(manifest.stderr)")
        #expect(try glassbox("sign", "--key", path("vendor.key"), self.manifest).status == 0)
        let vkey = try String(contentsOfFile: path("vendor.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        try Data("glassbox-trust v1\nthreshold 1\nkey \(vkey)\n".utf8).write(to: URL(fileURLWithPath: trust))
        for name in ["tool.sig", "linux/tool.sig"] {
            try Data("a signature\n".utf8).write(to: dir.appendingPathComponent("dist/\(name)"))
        }
    }

    func verify(_ extra: [String], tree: String = "src") throws -> Result {
        try verifyRelease(["--manifest", manifest, "--trust", trust, "--dir", path(tree)] + extra)
    }
}

/// Runs a program with `environment` added to the test's own, optionally on a terminal (a
/// pseudo-terminal from util-linux `script`, whose output then carries CR LF line ends; only
/// standard output is on it).
private func runWith(_ environment: [String: String], onTerminal: Bool = false, _ program: String, _ arguments: [String]) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "NO_COLOR")
    env.merge(environment) { $1 }
    process.environment = env
    if onTerminal {
        // Standard error stays off the terminal's capture: progress lines there are not the report.
        let command = ([program] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            + " 2>/dev/null"
        process.arguments = ["script", "-qefc", command, "/dev/null"]
    } else {
        process.arguments = [program] + arguments
    }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(status: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self), stderr: "", stdoutBytes: data)
}

private var verifyReleasePath: String { productsDirectory.appendingPathComponent("verify-release").path }
private var glassboxPath: String { productsDirectory.appendingPathComponent("glassbox").path }
private let hasScript = (try? run("which", ["script"]).status) == 0
private let chromium = ["chromium", "chromium-browser"].first { (try? run("which", [$0]).status) == 0 }

@Suite struct ArtifactSelectionTests {
    /// `--artifact` checks only the files named, by the names the manifest lists (a file in a
    /// subdirectory by its listed path), and the verdict says how many listed ones were not.
    @Test func namedArtifactsOnlyAndTheRestNamedAsNotChecked() throws {
        let release = try ArtifactRelease()
        let result = try release.verify(["--artifact", release.path("dist/tool"), "--artifact", release.path("dist/linux/tool")])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("verify-release: VERIFIED (only 2 of 4 listed artifacts checked) tool 1.0 (vendor.example/tool/1.0)\n"),
                "\(result.stdout)")
        #expect(result.stdout.contains("\nartifacts  4 listed, 2 files given (--artifact); 2 NOT checked: manual.pdf, tool-arm\n"))
        #expect(result.stdout.contains("· not-checked manual.pdf: listed in the manifest; not checked"))
        #expect(!result.stdout.contains("missing"))

        let json = try release.verify(["--artifact", release.path("dist/tool"), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdoutBytes) as? [String: Any])
        let checked = try #require(object["checked"] as? [String: Any])
        #expect(checked["artifactSelection"] as? Bool == true)
        #expect(checked["artifactsNotChecked"] as? [String] == ["linux/tool", "manual.pdf", "tool-arm"])
        #expect(object["verified"] as? Bool == true)

        // Every listed one named: a plain VERIFIED, and the line says none was left out.
        let all = try release.verify(["tool", "tool-arm", "manual.pdf", "linux/tool"].flatMap { ["--artifact", release.path("dist/\($0)")] })
        #expect(all.status == 0 && all.stdout.hasPrefix("verify-release: VERIFIED tool 1.0 "), "\(all.stdout)")
        #expect(all.stdout.contains("(--artifact); every listed artifact checked"))
    }

    /// A named file that is not listed fails, and so does a named one that differs.
    @Test func aNamedFileMustBeListedAndMatch() throws {
        let release = try ArtifactRelease()
        let unlisted = try release.verify(["--artifact", release.path("dist/tool"), "--artifact", release.path("dist/tool.sig"), "--quiet"])
        #expect(unlisted.status == 1 && unlisted.stdout == "verify-release: FAILED tool 1.0 (vendor.example/tool/1.0): 1 problem\n",
                "\(unlisted.stdout)")
        let report = try release.verify(["--artifact", release.path("dist/tool.sig")])
        #expect(report.stdout.contains("✗ unlisted tool.sig: given as \(release.path("dist/tool.sig")) but not listed in the manifest"))

        try Data("a different build\n".utf8).write(to: URL(fileURLWithPath: release.path("dist/tool-arm")))
        let modified = try release.verify(["--artifact", release.path("dist/tool-arm")])
        #expect(modified.status == 1 && modified.stdout.contains("✗ modified tool-arm: "), "\(modified.stdout)")
    }

    /// Each unlisted file a glob covers is named with the glob, and a glob that covered
    /// nothing says so; what is not covered still fails, and so does a symlink the glob names.
    @Test func ignoreUnlistedNamesTheGlobAndEveryFileItIgnored() throws {
        let release = try ArtifactRelease()
        let plain = try release.verify(["--artifacts", release.dist])
        #expect(plain.status == 1 && plain.stdout.contains("✗ unlisted tool.sig") && plain.stdout.contains("✗ unlisted linux/tool.sig"))

        let ignored = try release.verify(["--artifacts", release.dist, "--ignore-unlisted", "*.sig", "--ignore-unlisted", "*.asc"])
        #expect(ignored.status == 0, "\(ignored.stdout)")
        #expect(ignored.stdout.hasPrefix("verify-release: VERIFIED (2 unlisted artifact files ignored) tool 1.0 "), "\(ignored.stdout)")
        #expect(ignored.stdout.contains("\nignored    --ignore-unlisted '*.sig': linux/tool.sig, tool.sig\n"))
        #expect(ignored.stdout.contains("\nignored    --ignore-unlisted '*.asc': matched no file\n"))
        #expect(ignored.stdout.contains("· ignored-unlisted tool.sig: in the artifact directory \(release.dist), not listed in the manifest; ignored (--ignore-unlisted '*.sig')"))

        let json = try release.verify(["--artifacts", release.dist, "--ignore-unlisted", "*.sig", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdoutBytes) as? [String: Any])
        let checked = try #require(object["checked"] as? [String: Any])
        let globs = try #require(checked["ignoredUnlisted"] as? [[String: Any]])
        #expect(globs.count == 1 && globs[0]["glob"] as? String == "*.sig" && globs[0]["files"] as? [String] == ["linux/tool.sig", "tool.sig"])

        // A path glob covers only its directory; the other signature still fails.
        let one = try release.verify(["--artifacts", release.dist, "--ignore-unlisted", "linux/*.sig"])
        #expect(one.status == 1 && one.stdout.contains("✗ unlisted tool.sig") && one.stdout.contains("· ignored-unlisted linux/tool.sig"),
                "\(one.stdout)")

        try FileManager.default.createSymbolicLink(atPath: release.path("dist/key.sig"), withDestinationPath: "/etc/passwd")
        let link = try release.verify(["--artifacts", release.dist, "--ignore-unlisted", "*.sig"])
        #expect(link.status == 1 && link.stdout.contains("✗ not-a-file key.sig: is a symlink"), "\(link.stdout)")
    }

    @Test func artifactOptionsAreRefusedWhereTheyDoNothing() throws {
        let release = try ArtifactRelease()
        for extra in [["--artifact", release.path("dist/tool"), "--artifacts", release.dist],
                      ["--ignore-unlisted", "*.sig"],
                      ["--artifact", release.path("dist/tool"), "--ignore-unlisted", "*.sig"],
                      ["--artifacts", release.dist, "--ignore-unlisted", "!*.sig"],
                      ["--artifacts", release.dist, "--ignore-unlisted", "sigs/"]] {
            let result = try release.verify(extra)
            #expect(result.status == 64, "\(extra): \(result.stderr)")
        }
        let directory = try release.verify(["--artifact", release.dist])
        #expect(directory.status == 2)
        #expect(directory.stderr.contains("glassbox: hint: to check every listed artifact in a directory, give --artifacts"))
    }
}

@Suite struct ReviewerHintTests {
    /// A tarball given as --dir is refused with the option that reads it.
    @Test func aTarballGivenAsDirNamesTarball() throws {
        let release = try ArtifactRelease()
        let tarball = release.path("release.tar.gz")
        #expect(try run("tar", ["-czf", tarball, "-C", release.dir.path, "src"]).status == 0)
        let verified = try verifyRelease(["--manifest", release.manifest, "--trust", release.trust, "--dir", tarball])
        #expect(verified.status == 2)
        #expect(verified.stderr == "glassbox: error: \(tarball): is a file, not a directory\n"
                + "glassbox: hint: to check a release tarball as it is, give --tarball \(tarball) instead of --dir\n", "\(verified.stderr)")
        for command in [["scan"], ["manifest", "--origin", "o.example/x", "--name", "x", "--version", "1"]] {
            let result = try run(glassboxPath, command + ["--dir", tarball])
            #expect(result.status == 2 && result.stderr.contains("glassbox: hint: to check a release tarball as it is, give --tarball"),
                    "\(command): \(result.stderr)")
        }
    }
}

@Suite struct CountGrammarTests {
    /// One of anything is singular: "1 entry", "1 file", "1 error", "1 problem".
    @Test func oneIsSingular() throws {
        let release = try ArtifactRelease()
        let one = try release.verify(["--artifact", release.path("dist/tool")])
        #expect(one.stdout.contains("1 entry listed, 1 found"), "\(one.stdout)")
        #expect(one.stdout.contains("artifacts  4 listed, 1 file given (--artifact)"))
        #expect(one.stdout.contains("scan       0 findings"))

        let check = try glassbox("check", release.manifest, "--dir", release.path("src"))
        #expect(check.stdout.hasSuffix(": 1 entry\n"), "\(check.stdout)")

        try Data("int x; /*\u{202E} } */\n".utf8).write(to: release.dir.appendingPathComponent("src/main.c"))
        let scan = try glassbox("scan", "--dir", release.path("src"))
        #expect(scan.stdout.hasPrefix("glassbox: scan: 1 error, 0 warnings, 0 notes\n"), "\(scan.stdout)")
        let differs = try glassbox("check", release.manifest, "--dir", release.path("src"))
        #expect(differs.stdout.hasPrefix("glassbox: check: the tree differs from tool 1.0 (vendor.example/tool/1.0): 1 difference\n"))
        let failed = try release.verify(["--quiet", "--fail-on", "none"])
        #expect(failed.stdout.hasSuffix(": 1 problem\n"), "\(failed.stdout)")

        // A policy whose threshold is more than its one key.
        let vkey = try String(contentsOfFile: release.path("vendor.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        try Data("glassbox-trust v1\nthreshold 2\nkey \(vkey)\n".utf8).write(to: URL(fileURLWithPath: release.trust))
        let policy = try release.verify([])
        #expect(policy.stderr.contains("the threshold 2 is more than the 1 key listed"), "\(policy.stderr)")
    }
}

@Suite struct ColourTests {
    private static let esc = "\u{1B}"

    /// Off a terminal there is no colour; NO_COLOR=1 keeps it off; --color always puts green
    /// or red around the verdict line only, even with NO_COLOR; --color never has none.
    @Test func verdictColourFollowsTheOptionAndNoColor() throws {
        let release = try ArtifactRelease()
        let args = ["--manifest", release.manifest, "--trust", release.trust, "--dir", release.path("src")]
        let plain = try runWith([:], verifyReleasePath, args)
        #expect(plain.status == 0 && !plain.stdout.contains(Self.esc))
        let noColor = try runWith(["NO_COLOR": "1"], verifyReleasePath, args)
        #expect(noColor.status == 0 && !noColor.stdout.contains(Self.esc))
        let always = try runWith(["NO_COLOR": "1"], verifyReleasePath, args + ["--color", "always"])
        #expect(always.stdout.hasPrefix("\(Self.esc)[32mverify-release: VERIFIED tool 1.0 (vendor.example/tool/1.0)\(Self.esc)[0m\n"),
                "\(always.stdout)")
        #expect(always.stdout.components(separatedBy: Self.esc).count == 3, "colour on the verdict only")
        let never = try runWith([:], verifyReleasePath, args + ["--color", "never"])
        #expect(!never.stdout.contains(Self.esc))

        let failed = try runWith([:], verifyReleasePath, args + ["--artifacts", release.dist, "--color", "always", "--quiet"])
        #expect(failed.status == 1)
        #expect(failed.stdout == "\(Self.esc)[31mverify-release: FAILED tool 1.0 (vendor.example/tool/1.0): 2 problems\(Self.esc)[0m\n")

        let invalid = try runWith([:], verifyReleasePath, args + ["--color", "sometimes"])
        #expect(invalid.status == 64)
        for command in [["scan", "--dir", release.path("src")], ["check", release.manifest, "--dir", release.path("src")]] {
            #expect(try runWith([:], glassboxPath, command + ["--color", "yes"]).status == 64, "\(command)")
            let coloured = try runWith(["NO_COLOR": "1"], glassboxPath, command + ["--color", "always"])
            #expect(coloured.stdout.hasPrefix("\(Self.esc)[32mglassbox: "), "\(command): \(coloured.stdout)")
            #expect(!(try runWith([:], glassboxPath, command)).stdout.contains(Self.esc), "\(command)")
        }
    }

    /// On a terminal, auto colours unless NO_COLOR is set to something; an empty NO_COLOR
    /// does not count (https://no-color.org). Also for glassbox diff, which coloured a
    /// terminal whatever NO_COLOR said.
    @Test func autoColoursATerminalUnlessNoColor() throws {
        // script(1) (Debian bsdutils, always installed) gives the command a terminal.
        try #require(hasScript, "script(1) is needed")
        let release = try ArtifactRelease()
        let args = ["--manifest", release.manifest, "--trust", release.trust, "--dir", release.path("src"), "--quiet"]
        let terminal = try runWith([:], onTerminal: true, verifyReleasePath, args)
        #expect(terminal.stdout.hasPrefix("\(Self.esc)[32mverify-release: VERIFIED"), "\(terminal.stdout)")
        let empty = try runWith(["NO_COLOR": ""], onTerminal: true, verifyReleasePath, args)
        #expect(empty.stdout.hasPrefix("\(Self.esc)[32m"), "\(empty.stdout)")
        let noColor = try runWith(["NO_COLOR": "1"], onTerminal: true, verifyReleasePath, args)
        #expect(noColor.stdout.hasPrefix("verify-release: VERIFIED") && !noColor.stdout.contains(Self.esc), "\(noColor.stdout)")
        let never = try runWith([:], onTerminal: true, verifyReleasePath, args + ["--color", "never"])
        #expect(!never.stdout.contains(Self.esc))

        try FileManager.default.copyItem(atPath: release.path("src"), toPath: release.path("new"))
        try Data("int main(void) { return 1; }\n".utf8).write(to: release.dir.appendingPathComponent("new/main.c"))
        let diff = ["diff", release.path("src"), release.path("new")]
        #expect(try runWith([:], onTerminal: true, glassboxPath, diff).stdout.contains(Self.esc))
        #expect(!(try runWith(["NO_COLOR": "1"], onTerminal: true, glassboxPath, diff)).stdout.contains(Self.esc))
        #expect(try runWith(["NO_COLOR": "1"], glassboxPath, diff + ["--color", "always"]).stdout.contains(Self.esc))
    }

    /// The scripts' own messages are plain when their output is not a terminal.
    @Test func scriptMessagesArePlainOffATerminal() throws {
        let common = repositoryRoot.appendingPathComponent("Scripts/lib/common.sh").path
        let said = try run("bash", ["-c", "source '\(common)'; say hello 2>&1"])
        #expect(said.stdout == "==> hello\n", "\(said.stdout)")
    }
}

@Suite struct VerificationHTMLTests {
    /// A failing verification with hostile names: the verdict, what was checked, every
    /// finding, names escaped and hidden characters shown; no script, no external resource.
    private func failingReport() throws -> (release: ArtifactRelease, page: String, html: URL, result: Result) {
        let release = try ArtifactRelease()
        let bad = release.dir.appendingPathComponent("bad")
        try FileManager.default.copyItem(atPath: release.path("src"), toPath: bad.path)
        try Data("int main(void) { /*\u{202E} } \u{2066} if (admin) */ return 1; }\n".utf8).write(to: bad.appendingPathComponent("main.c"))
        try Data("x\n".utf8).write(to: bad.appendingPathComponent("<script>alert(1)<script>.c"))
        try Data("y\n".utf8).write(to: bad.appendingPathComponent("evil\u{202E}txt.exe"))
        try Data("changed\n".utf8).write(to: URL(fileURLWithPath: release.path("dist/manual.pdf")))
        let html = release.dir.appendingPathComponent("report.html")
        let result = try release.verify(["--artifacts", release.dist, "--ignore-unlisted", "*.sig", "--html", html.path], tree: "bad")
        return (release, try String(contentsOf: html, encoding: .utf8), html, result)
    }

    @Test func thePageHoldsTheVerdictEveryFindingAndNoActiveContent() throws {
        let (release, page, html, result) = try failingReport()
        #expect(result.status == 1)
        #expect(page.contains("<h1 class=\"fail\">verify-release: FAILED tool 1.0 (vendor.example/tool/1.0): 5 problems</h1>"))
        #expect(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"))
        #expect(page.contains("<code>&lt;script&gt;alert(1)&lt;script&gt;.c</code>"))
        #expect(page.contains("evil<mark class=\"hid\">⟨U+202E⟩</mark>txt.exe"))
        #expect(!page.unicodeScalars.contains("\u{202E}"), "the character itself never reaches the page")
        #expect(!page.lowercased().contains("<script"))
        #expect(page.range(of: #"(src|href)\s*=\s*["']?\s*(https?:|//)"#, options: [.regularExpression, .caseInsensitive]) == nil)
        #expect(!page.contains("http://") && !page.contains("https://"))
        for expected in ["bidi-unterminated", "<code>modified</code>", "<code>manual.pdf</code>", "<code>extra</code>",
                         "--ignore-unlisted <code>*.sig</code>: <code>linux/tool.sig</code>, <code>tool.sig</code>",
                         "<th>trust policy</th><td><code>\(release.trust)</code>", "findings at error or above fail: default"] {
            #expect(page.contains(expected), "\(expected)")
        }
        let partial = release.dir.appendingPathComponent("partial.html")
        #expect(try release.verify(["--artifact", release.path("dist/tool"), "--html", partial.path]).status == 0)
        let selection = try String(contentsOf: partial, encoding: .utf8)
        #expect(selection.contains("<h1 class=\"ok\">verify-release: VERIFIED (only 1 of 4 listed artifacts checked) tool 1.0 "))
        #expect(selection.contains("4 listed, 1 file given (--artifact); <span class=\"not\">3 NOT checked:</span> "
                                   + "<code>linux/tool</code>, <code>manual.pdf</code>, <code>tool-arm</code>"))
        // Written whole, by rename: nothing else is left beside it.
        let left = try FileManager.default.contentsOfDirectory(atPath: html.deletingLastPathComponent().path)
        #expect(left.filter { $0.hasSuffix(".html") || $0.contains(".html.") }.sorted() == ["partial.html", "report.html"], "\(left)")
    }

    /// Rendered by headless Chromium: no console errors, the hostile name stays text.
    @Test func rendersOfflineInChromium() throws {
        let browser = try #require(chromium, "headless Chromium is needed (Debian chromium; Scripts/test installs it)")
        let (release, _, html, _) = try failingReport()
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(release.dir.path)/profile"]
        let dom = try run(browser, flags + ["--dump-dom", html.absoluteString])
        #expect(dom.status == 0)
        #expect(dom.stdout.contains("&lt;script&gt;alert(1)&lt;script&gt;.c"))
        #expect(!dom.stdout.contains("<script"), "a path became markup")
        let shot = release.dir.appendingPathComponent("report.png").path
        let rendered = try run(browser, flags + ["--enable-logging=stderr", "--v=0", "--window-size=1200,1600",
                                                   "--screenshot=\(shot)", html.absoluteString])
        #expect(rendered.status == 0 && FileManager.default.fileExists(atPath: shot))
        let console = rendered.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") }
        #expect(console.isEmpty, "\(console)")
    }
}

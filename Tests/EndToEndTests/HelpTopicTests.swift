import Foundation
import Testing

/// The reference a reviewer reads with nothing but the binaries: `glassbox help TOPIC`,
/// `verify-release --help-topic TOPIC`, and the manual pages made from the same text.
@Suite struct HelpTopicTests {
    static let topics = ["format", "policy", "exit-codes"]

    func verifyRelease(_ arguments: String...) throws -> Result {
        try run(productsDirectory.appendingPathComponent("verify-release").path, arguments)
    }

    @Test(arguments: topics) func bothExecutablesPrintTheSameTopic(_ topic: String) throws {
        let help = try glassbox("help", topic)
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.count > 500, "\(help.stdout)")
        // verify-release's required --trust does not stand in the way, wherever the option is.
        let option = try verifyRelease("--help-topic", topic)
        #expect(option.status == 0, "\(option.stderr)")
        #expect(option.stdout == help.stdout)
        #expect(try verifyRelease("--manifest", "m", "--help-topic=\(topic)").stdout == help.stdout)
        #expect(try glassbox("verify-release", "--help-topic", topic).stdout == help.stdout)
    }

    @Test func theTopicsSayWhatAReviewerLooksFor() throws {
        let exitCodes = try glassbox("help", "exit-codes").stdout
        for line in ["  0    verified or clean", "  1    verification failed", "  2    bad input or I/O", "  64   usage",
                     "  scan               1: findings at or above --fail-on", "  witness cosign     1: refused: the log's signature",
                     "  log verify         1: the checkpoint's signature by the log key does"] {
            #expect(exitCodes.contains(line), "\(line)")
        }
        let format = try glassbox("help", "format").stdout
        for word in ["glassbox-manifest v1", "SHA-256(0x00 || entry line", "c2sp.org/tlog-proof@v1", "glassbox-consistency-proof v1"] {
            #expect(format.contains(word), "\(word)")
        }
        let policy = try glassbox("help", "policy").stdout
        for word in ["glassbox-trust v1", "threshold K", "not-after=YYYY-MM-DD", "scan-fail-on", "glassbox-scan-exceptions v2"] {
            #expect(policy.contains(word), "\(word)")
        }
        // Every line fits a terminal of 80 columns, and so does the manual page: man indents
        // a display by 7 columns, 2 more than the text.
        for text in [exitCodes, format, policy] {
            for line in text.split(separator: "\n") { #expect(line.count <= (line.hasPrefix(" ") ? 75 : 80), "\(line)") }
        }
    }

    /// The manual page is made from the printed text: the same words in the same order, with
    /// only the formatter's macros between them, so the page cannot say something else.
    @Test(arguments: topics) func theManualPageHoldsTheSameText(_ topic: String) throws {
        let text = try glassbox("help", topic).stdout
        let page = try glassbox("help", topic, "--mdoc")
        #expect(page.status == 0, "\(page.stderr)")
        let section = topic == "exit-codes" ? 7 : 5
        #expect(page.stdout.contains(".Dt GLASSBOX-\(topic.uppercased()) \(section)\n"))
        #expect(page.stdout.contains(".Sh NAME\n.Nm glassbox-\(topic)\n.Nd "))
        // The DESCRIPTION section, macros dropped and escapes undone, word for word.
        let lines = page.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: ".Sh DESCRIPTION"))
        let end = try #require(lines[(start + 1)...].firstIndex { $0.hasPrefix(".Sh ") })
        var words: [Substring] = []
        for line in lines[(start + 1)..<end] {
            var content = String(line)
            if content.hasPrefix(".Ss ") { content.removeFirst(4) } else if content.hasPrefix(".") { continue }
            if content.hasPrefix("\\&") { content.removeFirst(2) }
            #expect(!content.replacingOccurrences(of: "\\e", with: "").contains("\\"), "an unescaped backslash: \(content)")
            words += content.replacingOccurrences(of: "\\e", with: "\\").split(whereSeparator: \.isWhitespace)
        }
        #expect(words == text.split(whereSeparator: \.isWhitespace))
        // A heading is a line the text sets apart, never a line of a paragraph.
        let headings = lines.filter { $0.hasPrefix(".Ss ") }.map { $0.dropFirst(4) }
        #expect(headings.count >= 1)
        for heading in headings { #expect(("\n\n" + text).contains("\n\n\(heading)\n\n"), "\(heading)") }
        // Indented lines keep their layout: a literal display, never filled.
        #expect(page.stdout.contains(".Bd -literal -offset 2n\n"))
    }

    /// man(1) renders every page without a complaint. Skipped where man is missing.
    @Test(arguments: topics) func manRendersThePage(_ topic: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/man") else { return }
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("glassbox-\(topic).\(topic == "exit-codes" ? 7 : 5)")
        try glassbox("help", topic, "--mdoc").stdoutBytes.write(to: file)
        let rendered = try run("env", ["MANWIDTH=80", "man", "--warnings", "-l", file.path])
        #expect(rendered.status == 0)
        #expect(rendered.stderr.isEmpty, "\(rendered.stderr)")
        for heading in ["NAME", "DESCRIPTION", "SEE ALSO"] { #expect(rendered.stdout.contains("\n\(heading)\n")) }
    }

    @Test func argumentParsersHelpStillAnswersForSubcommands() throws {
        let scan = try glassbox("help", "scan")
        #expect(scan.status == 0)
        #expect(scan.stdout.hasPrefix("OVERVIEW: Find bidi controls"), "\(scan.stdout)")
        let nested = try glassbox("help", "log", "verify")
        #expect(nested.stdout.contains("USAGE: glassbox log verify"), "\(nested.stdout)")
        // The root's help names the topics, so a reviewer can find them.
        #expect(try glassbox("help").stdout.contains("glassbox help exit-codes"))
    }

    /// A malformed file's hint names the reference that is there in the review room.
    @Test func hintsNameTheOfflineReference() throws {
        let dir = try temporaryDirectory()
        let policy = dir.appendingPathComponent("trust")
        try Data("glassbox-trust v1\nthreshold one\n".utf8).write(to: policy)
        let refused = try verifyRelease("--manifest", policy.path, "--trust", policy.path, "--dir", dir.path)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("glassbox: hint: the policy format: `glassbox help policy` or `verify-release --help-topic policy`"),
                "\(refused.stderr)")
        let manifest = dir.appendingPathComponent("release.manifest")
        try Data("example.com/a/1\n1\nnot base64\n".utf8).write(to: manifest)
        let inspected = try glassbox("inspect", manifest.path)
        #expect(inspected.status == 2)
        #expect(inspected.stderr.contains("glassbox: hint: a manifest is described in `glassbox help format`"), "\(inspected.stderr)")
    }

    @Test func anUnknownOrMissingTopicIsAUsageError() throws {
        let unknown = try verifyRelease("--help-topic", "formats")
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("--help-topic takes one of: format, policy, exit-codes"), "\(unknown.stderr)")
        #expect(try verifyRelease("--help-topic").status == 64)
        #expect(try glassbox("help", "format", "--bogus").status == 64)
    }
}

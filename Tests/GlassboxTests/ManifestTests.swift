import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

@Suite struct EscapingTests {
    @Test(arguments: [
        ("plain/path.txt", "plain/path.txt"),
        ("back\\slash", "back\\\\slash"),
        ("new\nline", "new\\nline"),
        ("cr\rtab\t", "cr\\rtab\\t"),
        (" lead", "\\x20lead"),
        ("trail ", "trail\\x20"),
        ("in side", "in side"),
        ("nul\u{0}del\u{7F}", "nul\\x00del\\x7f"),
        ("c1\u{85}", "c1\\xc2\\x85"),
        ("café", "café"),
        ("\u{202E}rtl", "\u{202E}rtl"),
    ])
    func escapes(raw: String, escaped: String) {
        #expect(Escaping.escape(bytes(raw)) == escaped)
        #expect(Escaping.unescape(bytes(escaped)) == bytes(raw))
    }

    @Test func invalidUTF8IsEscapedByteByByte() {
        let cases: [([UInt8], String)] = [
            ([0x61, 0xFF, 0x62], "a\\xffb"),
            ([0xE2, 0x82, 0x41], "\\xe2\\x82A"),          // truncated sequence
            ([0xC0, 0xAF], "\\xc0\\xaf"),                 // overlong
            ([0xED, 0xA0, 0x80], "\\xed\\xa0\\x80"),      // surrogate
            ([0xF4, 0x90, 0x80, 0x80], "\\xf4\\x90\\x80\\x80"), // above U+10FFFF
            ([0xF0, 0x9F, 0x98, 0x80], "😀"),
        ]
        for (raw, escaped) in cases {
            #expect(Escaping.escape(raw) == escaped)
            #expect(Escaping.unescape(bytes(escaped)) == raw)
        }
    }

    @Test func nonCanonicalFormsAreRejected() {
        for text in ["\\x41", "\\q", "\\x4", "a\\", "\\xFF", " lead", "trail ", "\\xc3\\xa9", "tab\there"] {
            #expect(Escaping.unescape(bytes(text)) == nil, "\(text)")
        }
    }

    @Test func everyByteRoundTrips() {
        for b in 0...255 {
            let raw: [UInt8] = [0x78, UInt8(b), 0x78]
            #expect(Escaping.unescape(bytes(Escaping.escape(raw))) == raw)
            #expect(!Escaping.escape(raw).contains("\n"))
        }
    }
}

private func entry(_ path: String, _ kind: EntryKind = .file, content: String = "x") -> TreeEntry {
    if kind == .submodule {
        return TreeEntry(path: bytes(path), kind: kind, size: 0, digest: [UInt8](repeating: 0xAB, count: 20))
    }
    return TreeEntry(path: bytes(path), kind: kind, size: UInt64(content.utf8.count), digest: SHA256.hash(bytes(content)))
}

private let header = ReleaseHeader(
    origin: "example.com/sample/1.0.0", name: "sample", version: "1.0.0",
    source: .git(commit: String(repeating: "a", count: 40), tree: String(repeating: "b", count: 40),
                 tagName: bytes("v1.0.0"), tagObject: String(repeating: "c", count: 40)),
    artifacts: [Artifact(name: bytes("sample.tar.gz"), size: 3, sha256: SHA256.hash(bytes("abc")))])

private let sampleEntries = [
    entry("a b.txt"), entry("bin/run", .exec, content: "#!"), entry("lib", .submodule),
    entry("link", .link, content: "a b.txt"), entry("z\nnewline"),
]

@Suite struct ManifestFormatTests {
    @Test func roundTrip() throws {
        let manifest = try Manifest(header: header, entries: sampleEntries)
        let text = manifest.render()
        let parsed = try Manifest.parse(text)
        #expect(parsed.header == header)
        #expect(parsed.entries == sampleEntries)
        #expect(parsed.isConsistent)
        #expect(parsed.render() == text)
        #expect(parsed.noteText == Manifest.noteText(header: header, count: 5, root: manifest.root))
    }

    @Test func rootIsTheMerkleRootOfTheEntryLines() throws {
        let manifest = try Manifest(header: header, entries: sampleEntries)
        let lines = sampleEntries.map(Manifest.entryLine)
        #expect(manifest.root == naiveRoot(lines[...]))
        #expect(String(decoding: lines[2], as: UTF8.self) == "submodule - " + String(repeating: "ab", count: 20) + " lib")
    }

    // FORMAT.md's worked example; recompute with the shell lines given there.
    @Test func formatDocumentExample() throws {
        let example = try Manifest(
            header: ReleaseHeader(origin: "example.com/hello/1.0", name: "hello", version: "1.0", source: .directory),
            entries: [entry("hello.txt", content: "hello\n"), entry("link", .link, content: "hello.txt")])
        #expect(base64(example.root) == "n7MsqzH1e3nfjUHJTB/j1G5g/lv1Wyv2AZacUzDXS/0=")
        let document = try String(contentsOf: repositoryRoot.appendingPathComponent("Manifests/FORMAT.md"), encoding: .utf8)
        #expect(document.contains(String(decoding: example.render(), as: UTF8.self)))
    }

    @Test func unsortedOrDuplicateEntriesCannotBeBuilt() {
        #expect(throws: FormatError.self) { try Manifest(header: header, entries: [entry("b"), entry("a")]) }
        #expect(throws: FormatError.self) { try Manifest(header: header, entries: [entry("a"), entry("a")]) }
        #expect(throws: FormatError.self) { try Manifest(header: header, entries: [entry("a/../b")]) }
        var bad = header
        bad.origin = "has space"
        #expect(throws: FormatError.self) { try Manifest(header: bad, entries: []) }
    }

    private func text() throws -> String {
        String(decoding: try Manifest(header: header, entries: sampleEntries).render(), as: UTF8.self)
    }

    private func expectFormatError(_ text: String, line: Int?, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Manifest.parse(bytes(text))
            Issue.record("parsed without error", sourceLocation: sourceLocation)
        } catch let error as FormatError {
            #expect(error.line == line, sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func malformedManifestsNameTheLine() throws {
        let good = try text()
        var lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()   // after the final LF
        func joined(_ l: [String]) -> String { l.joined(separator: "\n") + "\n" }
        let firstEntry = lines.firstIndex(where: { $0.hasPrefix("file ") })!

        expectFormatError(String(good.dropLast()), line: nil, "does not end with a newline")
        expectFormatError("", line: nil, "empty")
        var l = lines; l[1] = "05"
        expectFormatError(joined(l), line: 2, "count")
        l = lines; l[2] = "not base64"
        expectFormatError(joined(l), line: 3, "root")
        l = lines; l[3] = "glassbox-manifest v2"
        expectFormatError(joined(l), line: 4, "expected 'glassbox-manifest v1'")
        l = lines; l.insert("comment hello", at: 6)
        expectFormatError(joined(l), line: 7, "expected a 'source")
        l = lines; l.swapAt(firstEntry, firstEntry + 1)
        expectFormatError(joined(l), line: firstEntry + 2, "out of order")
        l = lines; l.insert(lines[firstEntry], at: firstEntry)
        expectFormatError(joined(l), line: firstEntry + 2, "duplicate path")
        l = lines; l[firstEntry] = "regular 1 00 a"
        expectFormatError(joined(l), line: firstEntry + 1, "unknown kind")
        l = lines; l[firstEntry] = l[firstEntry].replacingOccurrences(of: "a b.txt", with: "a\\x20b.txt")
        expectFormatError(joined(l), line: firstEntry + 1, "not escaped canonically")
        l = lines; l[firstEntry] = l[firstEntry].replacingOccurrences(of: "a b.txt", with: "../a")
        expectFormatError(joined(l), line: firstEntry + 1, "not a valid release path")
        l = lines; l[firstEntry] += String(repeating: "x", count: Manifest.maxLineLength)
        expectFormatError(joined(l), line: firstEntry + 1, "longer than")
        l = lines; l[5] = "version \u{1}"
        expectFormatError(joined(l), line: 6, "control character")
        expectFormatError(joined(Array(lines[0..<5]) + [""]), line: 6, "expected a 'version")
        expectFormatError(joined(Array(lines[0..<5])), line: 5, "not followed by an empty line")
        l = lines; l[0] = "example.com/\u{85}x"
        expectFormatError(joined(l), line: 1, "control character")
        l = lines; l.insert("— k\rey AAAA", at: firstEntry)
        expectFormatError(joined(l), line: firstEntry + 1, "carriage return")
        var invalid = bytes(good); invalid[2] = 0xFF
        do { _ = try Manifest.parse(invalid); Issue.record("invalid UTF-8 accepted") } catch let e as FormatError { #expect(e.line == 1) }
        let sigs = (0...Manifest.maxSignatures).map { "— key\($0) AAAA" }
        l = lines; l.insert(contentsOf: sigs, at: firstEntry)
        expectFormatError(joined(l), line: firstEntry + Manifest.maxSignatures + 1, "more than \(Manifest.maxSignatures) signature lines")
    }

    @Test func editedEntriesAndCountAreInconsistent() throws {
        let good = try text()
        // An edited byte in an entry, a dropped entry, a changed count: all parse but don't hash to the root.
        let edited = good.replacingOccurrences(of: "file 1 ", with: "file 2 ")
        let parsedEdited = try Manifest.parse(bytes(edited))
        #expect(!parsedEdited.isConsistent)
        #expect(throws: FormatError.self) { try parsedEdited.checkConsistency() }

        var lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.remove(at: lines.count - 2)
        #expect(!(try Manifest.parse(bytes(lines.joined(separator: "\n")))).isConsistent)

        let recount = good.replacingOccurrences(of: "\n5\n", with: "\n4\n")
        let parsedRecount = try Manifest.parse(bytes(recount))
        #expect(!parsedRecount.isConsistent)
        #expect(throws: FormatError.self) { try parsedRecount.checkConsistency() }
    }

    @Test func signatureLinesAreKeptVerbatim() throws {
        let manifest = try Manifest(header: header, entries: sampleEntries)
            .adding(signatureLine: bytes("— signer AAAAAAAA")).adding(signatureLine: bytes("— other BBBBBBBB"))
        let parsed = try Manifest.parse(manifest.render())
        #expect(parsed.signatureLines == manifest.signatureLines)
        #expect(parsed.entries == sampleEntries)
    }
}

@Suite struct ComparisonTests {
    @Test func everyDifferenceIsReported() {
        let expected = [entry("a"), entry("b", .exec), entry("c"), entry("d", .link, content: "x"),
                        entry("e", .submodule), entry("f"), entry("g")]
        var moved = entry("e", .submodule)
        moved.digest = [UInt8](repeating: 0xCD, count: 20)
        let actual = [entry("a", content: "changed"), entry("b", .file), entry("c", .link),
                      entry("d", .link, content: "y"), moved, entry("f", .exec, content: "z"), entry("h")]
        let diffs = compare(expected: expected, actual: actual)
        let summary = diffs.map { "\($0.kind.rawValue) \(String(decoding: $0.path, as: UTF8.self))" }
        #expect(summary == ["modified a", "mode-changed b", "kind-changed c", "retargeted d", "submodule-moved e",
                            "mode-changed f", "modified f", "missing g", "extra h"])
        #expect(compare(expected: expected, actual: expected).isEmpty)
    }
}

@Suite struct RobustnessTests {
    /// Every prefix of a manifest, and every single-byte corruption of a small one, parses or
    /// throws a `FormatError`: never a crash.
    @Test func truncatedAndCorruptedManifestsNeverCrash() throws {
        let original = try Manifest(header: header, entries: sampleEntries)
        let text = original.render()
        for length in 0..<text.count {
            do { _ = try Manifest.parse(Array(text.prefix(length))) } catch is FormatError {} catch {
                Issue.record("unexpected \(error)")
            }
        }
        for index in stride(from: 0, to: text.count, by: 3) {
            for value: UInt8 in [0x00, 0x0A, 0x20, 0x5C, 0x2B, 0xFF, 0xE2] {
                var corrupt = text
                corrupt[index] = value
                if let parsed = try? Manifest.parse(corrupt), corrupt != text {
                    // Whatever still parses has either entries that miss the root or a different
                    // note text, which its signatures would not cover: no change goes unnoticed.
                    #expect(!parsed.isConsistent || parsed.noteText != original.noteText, "byte \(index) = \(value)")
                }
            }
        }
    }

    @Test func malformedProofsAreFormatErrors() throws {
        let cases = ["", "c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v2\nextra AA==\nindex 0\n\nx\n",
                     "c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nx\n", "c2sp.org/tlog-proof@v1\nextra AA==\nindex 01\n\nx\n",
                     "c2sp.org/tlog-proof@v1\nextra AA==\nindex 0\nnot-base64\n\nx\n",
                     "c2sp.org/tlog-proof@v1\nextra AA==\nindex 0\n\nno signatures\n"]
        for text in cases {
            #expect(throws: FormatError.self, "\(text)") { try FileProof(parsing: bytes(text)) }
        }
    }

    @Test func trustPoliciesRoundTripAndRejectMistakes() throws {
        let key = try NoteSigner(name: "vendor.example/a", privateKey: .generate(.ed25519)).verifier
        let policy = TrustPolicy(threshold: 1, keys: [.init(verifier: key, origins: ["vendor.example/*"], notBefore: "2026-01-01", notAfter: "2026-12-31")])
        #expect(try TrustPolicy(parsing: policy.render()) == policy)
        #expect(policy.keys[0].allows(origin: "vendor.example/router/1.0"))
        #expect(!policy.keys[0].allows(origin: "evil.example/router/1.0"))
        #expect(policy.keys[0].dateProblem(on: "2026-06-01") == nil)
        #expect(policy.keys[0].dateProblem(on: "2027-01-01") != nil)
        #expect(policy.keys[0].dateProblem(on: "2025-12-31") != nil)
        for bad in ["glassbox-trust v1\nthreshold 2\nkey \(key)\n",                          // threshold above key count
                    "glassbox-trust v1\nthreshold 1\nkey \(key)\nkey \(key)\n",              // duplicate key
                    "glassbox-trust v1\nthreshold 1\nkey \(key) not-after=2026-13-01\n",     // bad date
                    "glassbox-trust v1\nthreshold 1\nkey \(key) colour=red\n",               // unknown attribute
                    "glassbox-trust v1\nthreshold 1\nkey \(key) origins=a*b\n",              // * inside a pattern
                    "glassbox-trust v1\nkey \(key)\n"] {                                     // no threshold
            #expect(throws: FormatError.self, "\(bad)") { try TrustPolicy(parsing: bad) }
        }
    }
}

import Testing
@testable import Glassbox
import GlassboxGit

/// The artifact check within a scope, on values alone: a selection and ignore globs.
@Suite struct ArtifactScopeTests {
    private let digest = [UInt8](repeating: 7, count: 32)
    private func listed(_ names: [String]) -> [Artifact] {
        names.map { Artifact(name: Array($0.utf8), size: 3, sha256: digest) }
    }
    private func item(_ name: String, kind: EntryKind = .file) -> TreeEntry {
        TreeEntry(path: Array(name.utf8), kind: kind, size: 3, digest: digest)
    }

    @Test func aSelectionNamesWhatItLeftOutAndMatchesListedPaths() {
        let observed = ObservedArtifacts(given: [
            .init(path: "out/linux/tool", isDirectory: false, items: [item("tool")]),
            .init(path: "manual.pdf", isDirectory: false, items: [item("manual.pdf")]),
        ])
        let check = checkArtifacts(listed: listed(["tool", "linux/tool", "manual.pdf", "tool-arm"]), observed: observed,
                                   scope: ArtifactScope(selection: true))
        #expect(check.findings.allSatisfy { $0.severity == .note }, "\(check.findings)")
        #expect(check.checked == ["linux/tool", "manual.pdf"])
        #expect(check.notChecked == ["tool", "tool-arm"])
        #expect(check.findings.map(\.code) == [.notChecked, .notChecked])

        // Without a selection a file is its base name, and the listed ones not given are missing.
        let all = checkArtifacts(listed: listed(["tool", "linux/tool", "manual.pdf", "tool-arm"]), observed: observed)
        #expect(all.findings.filter { $0.severity == .failure }.map { $0.subject ?? "" } == ["linux/tool", "tool-arm"])
    }

    @Test func globsIgnoreOnlyUnlistedRegularFiles() throws {
        let observed = ObservedArtifacts(given: [.init(path: "dist", isDirectory: true, items: [
            item("tool"), item("tool.sig"), item("linux/tool.sig"), item("key.sig", kind: .link), item("notes.txt"),
        ])])
        let check = checkArtifacts(listed: listed(["tool"]), observed: observed,
                                   scope: ArtifactScope(ignoreUnlisted: [try UnlistedGlob("*.sig"), try UnlistedGlob("*.asc")]))
        #expect(check.ignored.map(\.glob) == ["*.sig", "*.asc"])
        #expect(check.ignored.map(\.files) == [["tool.sig", "linux/tool.sig"], []])
        #expect(check.findings.filter { $0.severity == .failure }.map { $0.subject ?? "" } == ["key.sig", "notes.txt"])

        let anchored = checkArtifacts(listed: listed(["tool"]), observed: observed,
                                      scope: ArtifactScope(ignoreUnlisted: [try UnlistedGlob("linux/*.sig")]))
        #expect(anchored.ignored.map(\.files) == [["linux/tool.sig"]])
        for refused in ["", "!*.sig", "sigs/"] { #expect(throws: FormatError.self) { try UnlistedGlob(refused) } }
    }

    @Test func countsAgreeInNumber() {
        #expect(counting(1, "file") == "1 file")
        #expect(counting(0, "file") == "0 files")
        #expect(counting(UInt64(1), "entry", "entries") == "1 entry")
        #expect(counting(2, "entry", "entries") == "2 entries")
    }
}

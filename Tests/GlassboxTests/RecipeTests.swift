import Foundation
@testable import Glassbox
import GlassboxGit
import Testing

@Suite struct RecipeTests {
    private func parse(_ text: String) throws -> Recipe { try Recipe(parsing: Array(text.utf8)) }

    /// The line a malformed recipe is refused at, and the message.
    private func refusal(_ text: String) -> FormatError? {
        do { _ = try parse(text); return nil } catch let error as FormatError { return error } catch { return nil }
    }

    @Test func aRecipeParsesInOrder() throws {
        let recipe = try parse("""
            glassbox-recipe v1
            # the compiler
            requires gcc-12 12.2.0-14+deb12u1
            requires make 4.3-4.1
            run make -C src OUT="$OUT"
            run strip "$OUT/hello"
            artifact hello
            artifact share/hello.1
            source-date-epoch 1700000000

            """)
        #expect(recipe.requires.map(\.package) == ["gcc-12", "make"])
        #expect(recipe.requires.map(\.version) == ["12.2.0-14+deb12u1", "4.3-4.1"])
        #expect(recipe.requires.map(\.line) == [3, 4])
        #expect(recipe.commands == [.init(text: "make -C src OUT=\"$OUT\"", line: 5), .init(text: "strip \"$OUT/hello\"", line: 6)])
        #expect(recipe.artifacts == [Array("hello".utf8), Array("share/hello.1".utf8)])
        #expect(recipe.sourceDateEpoch == 1_700_000_000)
    }

    @Test func eachMalformedLineIsRefusedByNumber() {
        let head = "glassbox-recipe v1\n"
        let cases: [(String, Int?, String)] = [
            ("glassbox-recipe v2\nrun true\nartifact a\n", 1, "expected 'glassbox-recipe v1'"),
            (head + "build make\nartifact a\n", 2, "unknown line 'build'"),
            (head + "requires gcc-12 12.2.0 extra\nrun true\nartifact a\n", 2, "expected 'requires PACKAGE VERSION'"),
            (head + "requires gcc-12 v12\nrun true\nartifact a\n", 2, "'v12' is not a Debian version"),
            (head + "requires gcc-12 1:\nrun true\nartifact a\n", 2, "not a Debian version"),
            (head + "requires Gcc 12\nrun true\nartifact a\n", 2, "'Gcc' is not a Debian package name"),
            (head + "requires gcc 1\nrequires gcc 1\nrun true\nartifact a\n", 3, "required twice"),
            (head + "run true\nartifact a\nartifact a\n", 4, "listed twice"),
            (head + "run true\nartifact ../a\n", 3, "not a relative release path"),
            (head + "run true\nartifact /etc/passwd\n", 3, "not a relative release path"),
            (head + "run true\r\nartifact a\n", 2, "carriage return"),
            (head + "run echo \u{1B}[2J\nartifact a\n", 2, "control character"),
            (head + "run true # \u{202E} ; rm -rf /\nartifact a\n", 2, "U+202E, a bidi control or invisible character"),
            (head + "run tr\u{200B}ue\nartifact a\n", 2, "U+200B"),
            (head + "run true\nartifact a\nsource-date-epoch 01\n", 4, "decimal number"),
            (head + "run\nartifact a\n", 2, "needs a command"),
            (head + "artifact a\n", nil, "no 'run' line"),
            (head + "run true\n", nil, "no 'artifact' line"),
            (head + "run true\nartifact a", nil, "newline"),
        ]
        for (text, line, message) in cases {
            let error = refusal(text)
            #expect(error != nil, "accepted: \(text.debugDescription)")
            #expect(error?.line == line, "\(text.debugDescription): \(String(describing: error))")
            #expect(error?.message.contains(message) == true, "\(text.debugDescription): \(String(describing: error))")
        }
    }

    @Test func aRecipeIsBoundedInSize() {
        let big = "glassbox-recipe v1\nrun true\nartifact a\n" + String(repeating: "# padding\n", count: Recipe.maxSize / 10)
        #expect(refusal(big)?.message.contains("at most \(Recipe.maxSize)") == true)
    }

    @Test func debianVersionsAndNames() {
        for good in ["12.2.0-14", "4:12.2.0-3", "1.0~rc1", "2.36-9+deb12u4", "0"] { #expect(Recipe.isVersion(good[...]), "\(good)") }
        for bad in ["", "a1", "1.0-", ":1", "x:1", "1 0", "1_0"] { #expect(!Recipe.isVersion(bad[...]), "\(bad)") }
        for good in ["gcc-12", "libc6-dev", "g++", "libc6:amd64"] { #expect(Recipe.isPackageName(good[...]), "\(good)") }
        for bad in ["g", "-gcc", "GCC", "gcc:", "a/b"] { #expect(!Recipe.isPackageName(bad[...]), "\(bad)") }
    }

    @Test func theRecipeLineRoundTripsThroughTheNote() throws {
        let header = ReleaseHeader(origin: "example.com/hello/1", name: "hello", version: "1", source: .directory,
                                   recipe: Array("build/recipe".utf8))
        let manifest = try Manifest(header: header, entries: [])
        let text = String(decoding: manifest.render(), as: UTF8.self)
        #expect(text.contains("source directory\nrecipe build/recipe\n"))
        #expect(try Manifest.parse(manifest.render()).header.recipe == Array("build/recipe".utf8))
        // Without the line, a manifest reads as before.
        let plain = try Manifest(header: ReleaseHeader(origin: "example.com/hello/1", name: "hello", version: "1", source: .directory), entries: [])
        #expect(try Manifest.parse(plain.render()).header.recipe == nil)
        // After an artifact line, or twice, it is refused.
        let misplaced = text.replacingOccurrences(of: "recipe build/recipe\n", with: "") .replacingOccurrences(of: "\n\n", with: "\nrecipe a\nrecipe b\n\n")
        #expect(throws: FormatError.self) { try Manifest.parse(Array(misplaced.utf8)) }
        let dotted = text.replacingOccurrences(of: "recipe build/recipe", with: "recipe ../recipe")
        #expect(throws: FormatError.self) { try Manifest.parse(Array(dotted.utf8)) }
    }
}

@Suite struct RebuildExplanationTests {
    @Test func theFirstDifferenceIsTheFirstUnequalByteOrTheShorterLength() {
        #expect(Rebuild.firstDifference([1, 2, 3], [1, 2, 3]) == nil)
        #expect(Rebuild.firstDifference([1, 2, 3], [1, 9, 3]) == 1)
        #expect(Rebuild.firstDifference([1, 2], [1, 2, 3]) == 2)
    }

    @Test func eachHeuristicSaysWhatItSaw() {
        func causes(_ a: String, _ b: String) -> String {
            Rebuild.likelyCauses(signed: Array(a.utf8), rebuilt: Array(b.utf8)).joined(separator: " | ")
        }
        #expect(causes("built Sun Nov 29 10:00:00 UTC 2020", "built Mon Nov 30 11:12:13 UTC 2026").contains("timestamp"))
        #expect(causes("v=2026-11-29", "v=2026-11-30").contains("timestamp"))
        #expect(causes("file /home/a/src/x.c", "file /build/src/x.c").contains("build path"))
        #expect(causes("mode 0000644 ", "mode 0000664 ").contains("permissions"))
        #expect(causes("abcd", "dcba").contains("file order"))
        // A changed instruction matches none of them.
        #expect(causes("return 0;", "return 1;") == "")
    }

    @Test func archiveMembersAreListedInFileOrder() throws {
        // Two tar archives of the same two files, added in opposite orders (tar writes what it is given in order).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-order-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("a\n".utf8).write(to: dir.appendingPathComponent("a"))
        try Data("bb\n".utf8).write(to: dir.appendingPathComponent("b"))
        for (name, order) in [("ab.tar", ["a", "b"]), ("ba.tar", ["b", "a"])] {
            let result = try run("tar", ["--format=ustar", "--mtime=@0", "--owner=0", "--group=0", "-C", dir.path, "-cf", dir.appendingPathComponent(name).path] + order)
            #expect(result.status == 0)
        }
        let ab = try [UInt8](Data(contentsOf: dir.appendingPathComponent("ab.tar")))
        let ba = try [UInt8](Data(contentsOf: dir.appendingPathComponent("ba.tar")))
        #expect(Rebuild.archiveMembers(ab) == [Array("a".utf8), Array("b".utf8)])
        #expect(Rebuild.likelyCauses(signed: ab, rebuilt: ba).contains { $0.hasPrefix("file order in an archive: the same 2 members") })
    }
}

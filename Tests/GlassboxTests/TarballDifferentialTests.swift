import Foundation
import GlassboxGit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The tarball differential test: generated archives (Scripts/make-tar-cases, seeded) are each
/// either refused by the reader, or extracted by GNU tar to exactly the tree the reader read:
/// the same paths, kinds (the exec bit as git records it), symlink targets, bytes and empty
/// directories, with tar exiting 0 and printing nothing. A mismatch is a false pass.
///
/// CI runs `GLASSBOX_TAR_CASES` archives (default 1500, about 15 seconds);
/// `Scripts/tar-differential` runs 10,000 or more and prints the counts.
@Suite struct TarballDifferentialTests {
    @Test func everyAcceptedArchiveIsWhatGNUTarExtracts() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["GLASSBOX_TAR_CASES"].flatMap { Int($0) } ?? 1500
        let seed = environment["GLASSBOX_TAR_SEED"].flatMap { Int($0) } ?? 1
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases = dir.appendingPathComponent("cases")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Scripts/make-tar-cases").path
        let made = try run("python3", [script, cases.path, String(count), String(seed)])
        try #require(made.status == 0, "\(made.stderr)")
        let tar = try #require(["/usr/bin/tar", "/bin/tar"].first { FileManager.default.isExecutableFile(atPath: $0) })
        #expect(try run(tar, ["--version"]).stdout.hasPrefix("tar (GNU tar)"))

        var refused = 0, equal = 0
        var mismatches: [String] = []
        var reasons: [String: Int] = [:]
        for index in 0..<count {
            let archive = cases.appendingPathComponent(String(format: "case-%05d.tar", index)).path
            let tree: TarballTree
            do {
                tree = try TarballReader.read(path: archive, stripComponents: 0)
            } catch let error as TarballError {
                refused += 1
                reasons[reasonKey(error.message), default: 0] += 1
                continue
            }
            let out = dir.appendingPathComponent("x\(index)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
            defer { _ = try? run("rm", ["-rf", out.path]) }
            let extracted = try run(tar, ["-x", "--no-same-owner", "--warning=no-timestamp", "-f", archive, "-C", out.path])
            guard extracted.status == 0, extracted.stderr.isEmpty else {
                mismatches.append("case \(index): Glassbox accepts it, GNU tar exits \(extracted.status): \(extracted.stderr.prefix(300))")
                continue
            }
            let unpacked = try DirectoryReader.read(root: out.path)
            let empty = emptyDirectories(Array(out.path.utf8))
            if unpacked == tree.entries && empty == tree.emptyDirectories {
                equal += 1
            } else {
                mismatches.append("case \(index): GNU tar wrote \(unpacked.map { Escaping.escape($0.path) }) "
                                  + "(empty \(empty.map { Escaping.escape($0) })), Glassbox read \(tree.entries.map { Escaping.escape($0.path) }) "
                                  + "(empty \(tree.emptyDirectories.map { Escaping.escape($0) }))")
            }
        }
        print("tarball differential, seed \(seed): \(count) archives, \(refused) refused, \(equal) accepted and equal, \(mismatches.count) mismatches")
        for (reason, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(25) { print("  refused \(n)× \(reason)") }
        for mismatch in mismatches.prefix(20) { print("  MISMATCH \(mismatch)") }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.first ?? "")")
        #expect(equal > count / 20, "too few archives accepted (\(equal)) for the test to mean anything")
        #expect(refused > count / 5, "too few archives refused (\(refused)) for the generator to be hostile")
    }

    /// The directories under `root` with nothing in them, as raw relative paths, sorted.
    private func emptyDirectories(_ root: [UInt8]) -> [[UInt8]] {
        var found: [[UInt8]] = []
        var pending: [[UInt8]] = [[]]
        while let relative = pending.popLast() {
            let full = relative.isEmpty ? root : root + [UInt8(ascii: "/")] + relative
            var children = 0
            let cString = full.map { CChar(bitPattern: $0) } + [0]
            let stream = opendir(cString)
            guard let stream else { continue }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                if name == [0x2E] || name == [0x2E, 0x2E] { continue }
                children += 1
                if entry.pointee.d_type == UInt8(DT_DIR) { pending.append(relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name) }
            }
            if children == 0 && !relative.isEmpty { found.append(relative) }
        }
        return found.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The refusal's kind, without the header number, offset and names, to group the counts.
    private func reasonKey(_ message: String) -> String {
        var text = message
        if let range = text.range(of: #"^header \d+ at byte \d+ of the tar stream, "#, options: .regularExpression) { text.removeSubrange(range) }
        return String(text.replacingOccurrences(of: #"\d+"#, with: "N", options: .regularExpression)
            .replacingOccurrences(of: #"'[^']*'"#, with: "'…'", options: .regularExpression).prefix(110))
    }
}

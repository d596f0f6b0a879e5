import Foundation
import GlassboxGit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The tarball differential test: generated archives (Scripts/make-tar-cases, seeded) are each
/// either refused by the reader, or extracted by every common extractor (GNU tar, bsdtar and
/// Python's tarfile, through Scripts/tarfile-extract) to exactly the tree the reader read: the
/// same paths, kinds (the exec bit as git records it), symlink targets, bytes and empty
/// directories, with each extractor succeeding and printing nothing. An archive Glassbox
/// accepts that any of them refuses or reads differently is a mismatch: a false pass for the
/// reviewer who unpacks with that tool.
///
/// CI runs `GLASSBOX_TAR_CASES` archives (default 1000, about 20 seconds);
/// `Scripts/tar-differential` runs 10,000 or more and prints the counts.
@Suite struct TarballDifferentialTests {
    @Test func everyAcceptedArchiveIsWhatEveryExtractorExtracts() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["GLASSBOX_TAR_CASES"].flatMap { Int($0) } ?? 1000
        let seed = environment["GLASSBOX_TAR_SEED"].flatMap { Int($0) } ?? 1
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases = dir.appendingPathComponent("cases")
        let scripts = repositoryRoot.appendingPathComponent("Scripts")
        let made = try run("python3", [scripts.appendingPathComponent("make-tar-cases").path, cases.path, String(count), String(seed)])
        try #require(made.status == 0, "\(made.stderr)")
        let tar = try #require(["/usr/bin/tar", "/bin/tar"].first { FileManager.default.isExecutableFile(atPath: $0) })
        #expect(try run(tar, ["--version"]).stdout.hasPrefix("tar (GNU tar)"))
        let bsdtar = try #require(["/usr/bin/bsdtar", "/bin/bsdtar"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "bsdtar is missing (Debian: libarchive-tools)")
        #expect(try run(bsdtar, ["--version"]).stdout.hasPrefix("bsdtar"))

        var refused = 0
        var reasons: [String: Int] = [:]
        var accepted: [(index: Int, archive: String, tree: TarballTree)] = []
        var listing = ""
        var mismatches: [String: [String]] = [:]
        var equal: [String: Int] = [:]
        var failed = Set<String>()   // "EXTRACTOR INDEX" for each extraction that failed
        let extractors = ["GNU tar", "bsdtar", "tarfile"]
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
            accepted.append((index, archive, tree))
            let out = dir.appendingPathComponent("x\(index)")
            for name in ["gnu", "bsd", "py"] {
                try FileManager.default.createDirectory(at: out.appendingPathComponent(name), withIntermediateDirectories: true)
            }
            let gnu = try run(tar, ["-x", "--no-same-owner", "--warning=no-timestamp", "-f", archive, "-C", out.appendingPathComponent("gnu").path])
            if gnu.status != 0 || !gnu.stderr.isEmpty {
                failed.insert("GNU tar \(index)")
                mismatches["GNU tar", default: []].append("case \(index): Glassbox accepts it, GNU tar exits \(gnu.status): \(gnu.stderr.prefix(300))")
            }
            let bsd = try run(bsdtar, ["-x", "--no-same-owner", "-f", archive, "-C", out.appendingPathComponent("bsd").path])
            if bsd.status != 0 || !bsd.stderr.isEmpty {
                failed.insert("bsdtar \(index)")
                mismatches["bsdtar", default: []].append("case \(index): Glassbox accepts it, bsdtar exits \(bsd.status): \(bsd.stderr.prefix(300))")
            }
            listing += archive + "\t" + out.appendingPathComponent("py").path + "\n"
        }
        // One Python for every archive: starting one per archive would take most of the run.
        let list = dir.appendingPathComponent("tarfile-list")
        try listing.write(to: list, atomically: false, encoding: .utf8)
        let python = try run("python3", [scripts.appendingPathComponent("tarfile-extract").path, list.path])
        try #require(python.status == 0, "Scripts/tarfile-extract failed: \(python.stderr)")
        var answers = python.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let filter = answers.isEmpty ? "" : answers.removeFirst()
        try #require(answers.count >= accepted.count, "Scripts/tarfile-extract answered \(answers.count) of \(accepted.count)")
        for (position, item) in accepted.enumerated() where answers[position] != "ok" {
            failed.insert("tarfile \(item.index)")
            mismatches["tarfile", default: []].append("case \(item.index): Glassbox accepts it, tarfile: \(answers[position].prefix(300))")
        }

        for item in accepted {
            let out = dir.appendingPathComponent("x\(item.index)")
            for (extractor, name) in zip(extractors, ["gnu", "bsd", "py"]) {
                let root = out.appendingPathComponent(name).path
                // A refusal was counted above; its partial tree is not compared again.
                if failed.contains("\(extractor) \(item.index)") { continue }
                let unpacked = try DirectoryReader.read(root: root)
                let empty = emptyDirectories(Array(root.utf8))
                if unpacked == item.tree.entries && empty == item.tree.emptyDirectories {
                    equal[extractor, default: 0] += 1
                } else {
                    mismatches[extractor, default: []].append(
                        "case \(item.index): \(extractor) wrote \(describe(unpacked)) (empty \(empty.map { Escaping.escape($0) })), "
                        + "Glassbox read \(describe(item.tree.entries)) (empty \(item.tree.emptyDirectories.map { Escaping.escape($0) }))")
                }
            }
            _ = try? run("rm", ["-rf", out.path])
        }
        let total = extractors.reduce(0) { $0 + (mismatches[$1]?.count ?? 0) }
        print("tarball differential, seed \(seed): \(count) archives, \(refused) refused, \(accepted.count) accepted; "
              + extractors.map { "\($0): \(equal[$0] ?? 0) equal, \(mismatches[$0]?.count ?? 0) mismatches" }.joined(separator: "; ")
              + " (tarfile \(filter))")
        for (reason, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(25) { print("  refused \(n)× \(reason)") }
        for extractor in extractors {
            for mismatch in (mismatches[extractor] ?? []).prefix(10) { print("  MISMATCH \(extractor) \(mismatch)") }
        }
        #expect(total == 0, "\(total) mismatches, first: \(extractors.compactMap { mismatches[$0]?.first }.first ?? "")")
        #expect(accepted.count > count / 20, "too few archives accepted (\(accepted.count)) for the test to mean anything")
        #expect(refused > count / 5, "too few archives refused (\(refused)) for the generator to be hostile")
    }

    /// Entries as paths with kind, size and the digest's first bytes, for a mismatch message.
    private func describe(_ entries: [TreeEntry]) -> String {
        "[" + entries.map { "\(Escaping.escape($0.path)) \($0.kind) \($0.size) \($0.digest.prefix(4).map { String(format: "%02x", $0) }.joined())" }
            .joined(separator: ", ") + "]"
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

import Foundation
import Glassbox
@testable import GlassboxCrypto
@testable import GlassboxGit
import Testing

private let gitEnvironment = ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                              "GIT_AUTHOR_DATE": "2026-01-01T00:00:00 +0000",
                              "GIT_COMMITTER_DATE": "2026-01-01T00:00:00 +0000"]

private func git(_ args: [String], in dir: URL, input: URL? = nil) throws -> String {
    let result = try run("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"] + args,
                         in: dir, environment: gitEnvironment)
    guard result.status == 0 else { throw HostileFixtureFailure(message: "git \(args): \(result.stderr)") }
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

private struct HostileFixtureFailure: Error { var message: String }

/// A repository whose objects are all both loose and in one pack: libgit2 reads every object
/// whatever happens to the pack index, so only the pack-order code sees a corrupt one.
private struct PackedRepository {
    let dir: URL
    let idx: URL
    let pack: URL
    /// Every object's id and offset in the pack, from `git verify-pack -v`.
    let offsets: [String: UInt64]

    init() throws {
        dir = try temporaryDirectory("packed")
        _ = try git(["init", "-q", "."], in: dir)
        for i in 0..<40 {
            try Data("file \(i)\n".utf8).write(to: dir.appendingPathComponent("f\(i).txt"))
        }
        _ = try git(["add", "-A"], in: dir)
        _ = try git(["commit", "-q", "-m", "one"], in: dir)
        let script = "git rev-list --objects --all | cut -d' ' -f1 | git pack-objects -q .git/objects/pack/pack"
        let made = try run("bash", ["-c", script], in: dir, environment: gitEnvironment)
        guard made.status == 0 else { throw HostileFixtureFailure(message: made.stderr) }
        let packDir = dir.appendingPathComponent(".git/objects/pack")
        let names = try FileManager.default.contentsOfDirectory(atPath: packDir.path)
        let stem = names.first { $0.hasSuffix(".idx") }!.dropLast(4)
        idx = packDir.appendingPathComponent(stem + ".idx")
        pack = packDir.appendingPathComponent(stem + ".pack")
        var offsets: [String: UInt64] = [:]
        for line in try git(["verify-pack", "-v", idx.path], in: dir).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 5, fields[0].count == 40, let offset = UInt64(fields[4]) { offsets[String(fields[0])] = offset }
        }
        self.offsets = offsets
    }

    var objects: String { dir.appendingPathComponent(".git/objects").path }

    func edit(_ change: (inout [UInt8], Int) -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: idx))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: idx.path)
        change(&bytes, offsets.count)
        try Data(bytes).write(to: idx)
    }
}

private func put32(_ bytes: inout [UInt8], _ at: Int, _ value: UInt32) {
    for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i)) }
}

@Suite struct PackIndexTests {
    /// A real index gives every object's offset as `git verify-pack -v` lists it: the checks
    /// must not turn away the indexes the pack order exists for.
    @Test func aValidIndexGivesTheOffsetsGitLists() throws {
        let repo = try PackedRepository()
        #expect(repo.offsets.count > 40)
        let order = PackOrder(objectsDirectory: repo.objects)
        for (id, offset) in repo.offsets {
            let key = order.key(unhex(id))
            #expect(key.0 == 0 && key.1 == offset, "\(id)")
        }
        #expect(order.key([UInt8](repeating: 0xAB, count: 20)) == (1, 0))
    }

    /// Each way an index can be wrong: it is skipped (no object has an offset), and the read
    /// is exactly the read of the repository without it; or, where libgit2 itself trusts the
    /// bad offset, an error. Several of these crashed the reader before every field was checked.
    @Test(arguments: ["fan-out not monotonic", "hostile 1,032 bytes", "fan-out total past the file", "truncated",
                      "wrong version", "names out of order", "name in the wrong bucket", "offset past the pack",
                      "64-bit slot past the table", "pack checksum differs", "pack missing", "pack counts another number of objects"])
    func aBadIndexIsSkippedAndTheReadIsUnchanged(corruption: String) throws {
        let repo = try PackedRepository()
        let before = try GitReader.read(repositoryPath: repo.dir.path, revision: "HEAD", workers: 2)
        let namesStart = 8 + 1024
        switch corruption {
        case "fan-out not monotonic":
            try repo.edit { bytes, _ in for b in 0..<255 { put32(&bytes, 8 + 4 * b, b % 2 == 0 ? 0x7FFF_FFFF : 0) } }
        case "hostile 1,032 bytes":
            try repo.edit { bytes, _ in
                bytes.removeLast(bytes.count - namesStart)
                for b in 0..<255 { put32(&bytes, 8 + 4 * b, 0x1000_0000 + UInt32(b) * 0x10_0000) }
                put32(&bytes, 8 + 4 * 255, 0)
            }
        case "fan-out total past the file":
            try repo.edit { bytes, count in put32(&bytes, 8 + 4 * 255, UInt32(count + 1000)) }
        case "truncated":
            try repo.edit { bytes, count in bytes.removeLast(bytes.count - (namesStart + count * 20)) }
        case "wrong version":
            try repo.edit { bytes, _ in bytes[7] = 3 }
        case "names out of order":
            try repo.edit { bytes, _ in for i in 0..<20 { bytes.swapAt(namesStart + 20 + i, namesStart + i) } }
        case "name in the wrong bucket":
            try repo.edit { bytes, _ in bytes[namesStart] = 0xFF }
        case "offset past the pack":
            try repo.edit { bytes, count in put32(&bytes, namesStart + count * 24, 0x7FFF_FFF0) }
        case "64-bit slot past the table":
            try repo.edit { bytes, count in put32(&bytes, namesStart + count * 24, 0x8000_0000) }
        case "pack checksum differs":
            try repo.edit { bytes, _ in bytes[bytes.count - 40] ^= 1 }
        case "pack missing":
            try FileManager.default.removeItem(at: repo.pack)
        default:
            // The pack's header counts one object more than the index lists.
            var pack = [UInt8](try Data(contentsOf: repo.pack))
            put32(&pack, 8, UInt32(repo.offsets.count + 1))
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: repo.pack.path)
            try Data(pack).write(to: repo.pack)
        }
        let order = PackOrder(objectsDirectory: repo.objects)
        for id in repo.offsets.keys {
            #expect(order.key(unhex(id)).1 == 0, "\(corruption): \(id)")
        }
        if corruption.hasPrefix("offset") || corruption.hasPrefix("64-bit") {
            #expect(throws: GitError.self) { try GitReader.read(repositoryPath: repo.dir.path, revision: "HEAD", workers: 2) }
        } else {
            let after = try GitReader.read(repositoryPath: repo.dir.path, revision: "HEAD", workers: 2)
            #expect(after.entries == before.entries)
        }
    }
}

/// Writes a chain of `depth` nested trees `d/d/…/leaf.txt` as loose objects and commits it.
private func deepRepository(levels: Int) throws -> URL {
    let dir = try temporaryDirectory("deep")
    _ = try git(["init", "-q", "."], in: dir)
    let script = """
        import hashlib, os, sys, zlib
        objects, levels = sys.argv[1], int(sys.argv[2])
        def store(kind, body):
            raw = kind + b" %d\\0" % len(body) + body
            oid = hashlib.sha1(raw).digest()
            path = f"{objects}/{oid.hex()[:2]}/{oid.hex()[2:]}"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "wb").write(zlib.compress(raw, 1))
            return oid
        tree = store(b"tree", b"100644 leaf.txt\\0" + store(b"blob", b"bottom\\n"))
        for _ in range(levels - 1):
            tree = store(b"tree", b"40000 d\\0" + tree)
        print(tree.hex())
        """
    let made = try run("python3", ["-c", script, dir.appendingPathComponent(".git/objects").path, "\(levels)"])
    guard made.status == 0 else { throw HostileFixtureFailure(message: made.stderr) }
    let commit = try git(["commit-tree", made.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "-m", "deep"], in: dir)
    _ = try git(["update-ref", "refs/heads/main", commit], in: dir)
    return dir
}

@Suite struct TreeWalkTests {
    /// A path of exactly `TreeLimits.depth` levels is read; one more level is refused with an
    /// error naming where, not a crash. The recursive walk this replaced had no limit.
    @Test func treesAreReadToTheDepthLimitAndRefusedPastIt() throws {
        let deepest = try deepRepository(levels: TreeLimits.depth)
        let snapshot = try GitReader.read(repositoryPath: deepest.path, revision: "main", workers: 1)
        #expect(snapshot.entries.count == 1)
        #expect(snapshot.entries.first?.path.count == 2 * (TreeLimits.depth - 1) + "leaf.txt".count)

        let tooDeep = try deepRepository(levels: TreeLimits.depth + 1)
        let error = #expect(throws: GitError.self) { try GitReader.read(repositoryPath: tooDeep.path, revision: "main") }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("is \(TreeLimits.depth) levels deep; paths have at most \(TreeLimits.depth) levels"), "\(text)")
        #expect(text.contains("tree 'd/d/d/d/"))
        #expect(text.count < 1000, "a long path is shortened in the message")
    }
}

@Suite struct MessagePathTests {
    /// Paths in messages use the manifest's escaped form (one encoder for both): on hand-picked
    /// names and on every name of up to three bytes from a pool of awkward ones (spaces,
    /// backslash, controls, UTF-8 lead and continuation bytes), it is printable and unescapes
    /// back to the name.
    @Test func messagePathsAreEscapedLikeTheManifest() {
        let picked: [[UInt8]] = [
            bytes("plain/path.c"), bytes("evil\u{1B}[31m\nname"), bytes(" lead"), bytes("trail "), bytes("back\\slash"),
            [0x62, 0xFF, 0x63], [0xC2, 0x85], [0xE2, 0x80, 0xAE], [0xE2, 0x80], [0xED, 0xA0, 0x80], [0xC0, 0xAF],
            [0xF4, 0x90, 0x80, 0x80], bytes("café"), [0x7F, 0x00, 0x09, 0x0D],
        ]
        let pool: [UInt8] = [0x20, 0x41, 0x5C, 0x0A, 0x1B, 0x7F, 0x80, 0x85, 0xA0, 0xBF, 0xC2, 0xE0, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]
        var every: [[UInt8]] = [[]]
        var shorter: [[UInt8]] = [[]]
        for _ in 0..<3 {
            shorter = shorter.flatMap { prefix in pool.map { prefix + [$0] } }
            every += shorter
        }
        #expect(every.count == 1 + 17 + 17 * 17 + 17 * 17 * 17)
        for name in picked + every {
            let shown = messagePath(name)
            #expect(Escaping.unescape(Array(shown.utf8)) == name, "\(name)")
            #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(name)")
        }
        #expect(messagePath(bytes("evil\u{1B}[31m\nname")) == "evil\\x1b[31m\\nname")
        #expect(messagePath([UInt8](repeating: 0x61, count: 1000)).count == 241)
    }
}

@Suite struct OpenSSLReturnTests {
    /// A failed OpenSSL digest call stops the process naming the call; it can never hand back
    /// a digest of zeros.
    @Test func aFailedDigestCallStopsNamingTheCall() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            requireOpenSSL(0, "EVP_DigestUpdate")
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("EVP_DigestUpdate failed"), "\(stderr)")
    }

    @Test func digestsStillMatchOpenSSL() {
        // printf abc | openssl dgst -sha256 ; printf abc | openssl dgst -sha1
        let sha256 = DigestHasher(.sha256)
        sha256.update(bytes("a"))
        sha256.update(bytes("bc"))
        #expect(sha256.finish() == unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        let sha1 = DigestHasher(.sha1)
        sha1.update(bytes("abc"))
        #expect(sha1.finish() == unhex("a9993e364706816aba3e25717850c26c9cd0d89d"))
    }
}

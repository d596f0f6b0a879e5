import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Writes the fixture's `v1.0.0` with `git archive --prefix=sample-1.0/`, compressed by `compressor`
/// (nil: plain tar), and returns its path.
private func sampleTarball(in dir: URL, compressor: String?) throws -> URL {
    let tar = dir.appendingPathComponent("sample-1.0.tar")
    let made = try run("git", ["-C", sampleRepository.path, "archive", "--format=tar", "--prefix=sample-1.0/",
                               "-o", tar.path, "v1.0.0"])
    #expect(made.status == 0, "\(made.stderr)")
    guard let compressor else { return tar }
    let packed = try run(compressor, ["-q", "-k", tar.path])
    #expect(packed.status == 0, "\(packed.stderr)")
    let suffix = ["gzip": "gz", "xz": "xz", "bzip2": "bz2", "zstd": "zst"][compressor]!
    return dir.appendingPathComponent("sample-1.0.tar.\(suffix)")
}

/// Runs a Python script that writes an archive with `tarfile` (or `zipfile`) to `sys.argv[1]`.
private func pythonArchive(_ script: String, in dir: URL, named name: String = "hostile.tar") throws -> URL {
    let out = dir.appendingPathComponent(name)
    let prelude = """
        import io, sys, tarfile, zipfile
        def member(t, name, type=tarfile.REGTYPE, data=b"", **fields):
            info = tarfile.TarInfo(name)
            info.type = type
            info.size = len(data) if type == tarfile.REGTYPE else 0
            info.mode = fields.pop("mode", 0o644)
            for key, value in fields.items(): setattr(info, key, value)
            t.addfile(info, io.BytesIO(data) if type == tarfile.REGTYPE else None)

        """
    let result = try run("python3", ["-c", prelude + script, out.path])
    #expect(result.status == 0, "\(result.stderr)")
    return out
}

/// Collects everything an inspector is shown, keyed by path.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [[UInt8]: (visit: ContentVisit, bytes: [UInt8], chunks: Int, finished: Int)] = [:]

    func record(_ visit: ContentVisit) { lock.withLock { storage[visit.path] = (visit, [], 0, 0) } }
    func append(_ path: [UInt8], _ chunk: UnsafeRawBufferPointer) {
        lock.withLock { storage[path]!.bytes += chunk; storage[path]!.chunks += 1 }
    }
    func finish(_ path: [UInt8]) { lock.withLock { storage[path]!.finished += 1 } }
    subscript(_ path: String) -> (visit: ContentVisit, bytes: [UInt8], chunks: Int, finished: Int)? {
        lock.withLock { storage[bytes(path)] }
    }
}

/// Every progress call, in order.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [(done: Int, total: Int)] = []
    func add(_ done: Int, _ total: Int) { lock.withLock { storage.append((done, total)) } }
    var calls: [(done: Int, total: Int)] { lock.withLock { storage } }
}

/// Keeps each chunk until `limit` chunks were taken, then asks for no more.
private final class CollectingSink: ContentSink {
    let path: [UInt8]
    let collected: Collected
    let limit: Int
    var taken = 0
    init(_ path: [UInt8], _ collected: Collected, limit: Int) { (self.path, self.collected, self.limit) = (path, collected, limit) }
    func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        collected.append(path, chunk)
        taken += 1
        return taken < limit
    }
    func finish() { collected.finish(path) }
}

/// The process's peak resident size so far, in bytes (Linux reports ru_maxrss in KiB).
private func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

@Suite struct TarballReaderTests {
    /// Every compression gives exactly the tree `tar -x` unpacks, read by the directory reader:
    /// the fixture's awkward names (newline, backslash, invalid UTF-8, spaces), the exec bit and
    /// the symlink all come through byte for byte. The submodule, which `git archive` writes as
    /// an empty directory, is no entry in either.
    @Test(arguments: [nil, "gzip", "xz", "bzip2", "zstd"] as [String?])
    func gitArchiveReadsLikeTheUnpackedTree(compressor: String?) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try sampleTarball(in: dir, compressor: compressor)
        let unpacked = dir.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        let untar = try run("tar", ["-x", "-f", dir.appendingPathComponent("sample-1.0.tar").path, "-C", unpacked.path])
        #expect(untar.status == 0, "\(untar.stderr)")
        let expected = try DirectoryReader.read(root: unpacked.appendingPathComponent("sample-1.0").path)

        let tree = try TarballReader.read(path: archive.path)
        #expect(tree.strippedPrefix == bytes("sample-1.0"))
        #expect(tree.entries == expected)
        #expect(tree.entries.count == 21)   // GitReader's 22 entries less the submodule
        let byPath = Dictionary(uniqueKeysWithValues: tree.entries.map { ($0.path, $0) })
        #expect(byPath[bytes("bin/build.sh")]?.kind == .exec)
        #expect(byPath[bytes("docs/outside-link")]?.kind == .link)
        #expect(byPath[bytes("names/") + [0x62, 0x61, 0x64, 0xFF] + bytes("utf8.txt")] != nil)
    }

    /// `stripComponents: 0` keeps the top directory in every path; `1` removes it without
    /// reporting a prefix; the automatic strip gives the same entries as `1`.
    @Test func explicitStripCountsAreHonoured() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try sampleTarball(in: dir, compressor: "gzip")
        let automatic = try TarballReader.read(path: archive.path)
        let kept = try TarballReader.read(path: archive.path, stripComponents: 0)
        #expect(kept.strippedPrefix == nil)
        #expect(kept.entries.map(\.path) == automatic.entries.map { bytes("sample-1.0/") + $0.path })
        #expect(kept.entries.map(\.digest) == automatic.entries.map(\.digest))
        let one = try TarballReader.read(path: archive.path, stripComponents: 1)
        #expect(one.strippedPrefix == nil)
        #expect(one.entries == automatic.entries)
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: archive.path, stripComponents: 3) }
        #expect(error?.message.contains("fewer than") == true)
    }

    /// No automatic strip when the top level holds two names, or a single file; a leading `./`
    /// and a `./` root entry are not a top-level directory of their own.
    @Test func automaticStripNeedsOneTopLevelDirectory() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let two = try pythonArchive("""
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                member(t, "a/x", data=b"1")
                member(t, "b/y", data=b"2")
            """, in: dir, named: "two.tar")
        let twoTree = try TarballReader.read(path: two.path)
        #expect(twoTree.strippedPrefix == nil)
        #expect(twoTree.entries.map(\.path) == [bytes("a/x"), bytes("b/y")])
        let single = try pythonArchive("""
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                member(t, "README", data=b"1")
            """, in: dir, named: "single.tar")
        let singleTree = try TarballReader.read(path: single.path)
        #expect(singleTree.strippedPrefix == nil && singleTree.entries.map(\.path) == [bytes("README")])
        let dotted = try pythonArchive("""
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                member(t, "./", type=tarfile.DIRTYPE)
                member(t, "./pkg-2/", type=tarfile.DIRTYPE)
                member(t, "./pkg-2/src//main.c", data=b"int main;")
                member(t, "./pkg-2/run", data=b"#!/bin/sh", mode=0o755)
            """, in: dir, named: "dotted.tar")
        let dottedTree = try TarballReader.read(path: dotted.path)
        #expect(dottedTree.strippedPrefix == bytes("pkg-2"))
        #expect(dottedTree.entries.map(\.path) == [bytes("run"), bytes("src/main.c")])
        #expect(dottedTree.entries.map(\.kind) == [.exec, .file])
        #expect(dottedTree.entries[1].digest == SHA256.hash(bytes("int main;")))
    }

    /// Each hostile archive is refused, naming the entry at fault and why.
    @Test(arguments: [
        ("duplicate", "member(t, 'x', data=b'good'); member(t, 'x', data=b'evil')", "x", "appears twice"),
        ("dotdot", "member(t, '../x', data=b'1')", "../x", "'..'"),
        ("absolute", "member(t, '/etc/x', data=b'1')", "/etc/x", "absolute"),
        ("hardlink", "member(t, 'a', data=b'1'); member(t, 'b', type=tarfile.LNKTYPE, linkname='a')", "b", "hard link"),
        ("device", "member(t, 'null', type=tarfile.CHRTYPE, devmajor=1, devminor=3)", "null", "device"),
        ("block", "member(t, 'disk', type=tarfile.BLKTYPE, devmajor=8, devminor=0)", "disk", "device"),
        ("fifo", "member(t, 'pipe', type=tarfile.FIFOTYPE)", "pipe", "fifo"),
        ("fileThenChild", "member(t, 'a', data=b'1'); member(t, 'a/b', data=b'2')", "a/b", "which is a file"),
        ("childThenFile", "member(t, 'a/b', data=b'2'); member(t, 'a', data=b'1')", "a", "as a directory"),
        ("linkThenChild", "member(t, 'a', type=tarfile.SYMTYPE, linkname='/etc'); member(t, 'a/b', data=b'2')",
         "a/b", "which is a symlink"),
        ("dotComponent", "member(t, 'a/./b', data=b'1'); member(t, 'a/b', data=b'2')", "a/b", "appears twice"),
        ("doubleSlash", "member(t, 'a//b', data=b'1'); member(t, 'a/b', data=b'2')", "a/b", "appears twice"),
        ("directoryTwice", "member(t, 'd/', type=tarfile.DIRTYPE); member(t, 'd', type=tarfile.DIRTYPE)", "d/", "appears twice"),
        ("dirThenFile", "member(t, 'd/', type=tarfile.DIRTYPE); member(t, 'd', data=b'1')", "d", "appears twice"),
        ("gitConfig", "member(t, '.git/config', data=b'[core]')", ".git/config", "'.git'"),
        ("gitDeep", "member(t, 'pkg/sub/.git/', type=tarfile.DIRTYPE)", "pkg/sub/.git/", "'.git'"),
        ("emptyTarget", "member(t, 'l', type=tarfile.SYMTYPE, linkname='')", "l", "empty target"),
        ("controlName", "member(t, 'a\\x1b[2J', type=tarfile.CHRTYPE)", "a\\x1b[2J", "device"),
    ])
    func hostileArchivesAreRefused(name: String, members: String, entry: String, fragment: String) throws {
        let dir = try temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try pythonArchive("""
            with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
                \(members.replacingOccurrences(of: "; ", with: "\n    "))
            """, in: dir)
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: archive.path) }
        #expect(error?.entry == entry)
        #expect(error?.message.contains(fragment) == true, "\(error.map(String.init(describing:)) ?? "")")
        #expect(error?.path == archive.path)
    }

    /// A zip (or anything else that is not tar) is refused as a whole, before any entry.
    @Test func otherArchiveFormatsAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let zip = try pythonArchive("""
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                z.writestr("README", "hello")
            """, in: dir, named: "release.zip")
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: zip.path) }
        #expect(error?.entry == "")
        #expect(error?.message.contains("is zip data") == true, "\(error.map(String.init(describing:)) ?? "")")
        let truncated = dir.appendingPathComponent("truncated.tar.gz")
        let whole = try Data(contentsOf: try sampleTarball(in: dir, compressor: "gzip"))
        try whole.prefix(whole.count / 2).write(to: truncated)
        let cut = #expect(throws: TarballError.self) { try TarballReader.read(path: truncated.path) }
        #expect(cut?.message.contains("truncated") == true, "\(cut.map(String.init(describing:)) ?? "")")
        #expect(throws: TarballError.self) { try TarballReader.read(path: dir.appendingPathComponent("missing.tar").path) }
    }

    /// An archive of nothing but its end marker (`tar -cf x.tar -T /dev/null`), with or without
    /// git archive's global header before it, is refused: tar -x extracts nothing, Python's
    /// tarfile cannot open it. An empty file is no archive. Progress reports the archive bytes
    /// read against the archive's size.
    @Test func emptyArchivesAndProgress() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let endOnly = dir.appendingPathComponent("end-only.tar")
        try Data(count: 10240).write(to: endOnly)
        let nothing = #expect(throws: TarballError.self) { try TarballReader.read(path: endOnly.path) }
        #expect(nothing?.message.contains("holds no file, symlink or directory") == true, "\(nothing.map(String.init(describing:)) ?? "")")
        let commentOnly = dir.appendingPathComponent("comment-only.tar")
        let made = try run("python3", ["-c", """
            import sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "0" * 40}): pass
            """, commentOnly.path])
        try #require(made.status == 0, "\(made.stderr)")
        let onlyComment = #expect(throws: TarballError.self) { try TarballReader.read(path: commentOnly.path) }
        #expect(onlyComment?.message.contains("holds no file, symlink or directory") == true,
                "\(onlyComment.map(String.init(describing:)) ?? "")")
        let empty = dir.appendingPathComponent("empty.tar")
        try Data().write(to: empty)
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: empty.path) }
        #expect(error?.entry == "")

        let archive = try sampleTarball(in: dir, compressor: "xz")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int)
        let log = ProgressLog()
        let tree = try TarballReader.read(path: archive.path, progress: { done, total in log.add(done, total) })
        let calls = log.calls
        #expect(calls.count == tree.entries.count)
        #expect(calls.allSatisfy { $0.total == size && $0.done > 0 && $0.done <= size })
        #expect(calls.map(\.done) == calls.map(\.done).sorted())
    }

    /// A pax header names files in UTF-8, which extractors convert to the current locale, or
    /// not, and some (libarchive in a UTF-8 locale) rewrite a decomposed `é` (NFD) to the
    /// composed one (NFC). The reader refuses such a name rather than return bytes some `tar -x`
    /// would not write, whatever the calling thread's locale; in a plain GNU header the same
    /// name is read byte for byte.
    @Test func nonASCIIPaxNamesAreRefusedNotRewritten() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = """
            fmt = tarfile.PAX_FORMAT if sys.argv[1].endswith("pax.tar") else tarfile.GNU_FORMAT
            with tarfile.open(sys.argv[1], "w", format=fmt, encoding="utf-8") as t:
                member(t, "cafe\\u0301.txt", data=b"1")
            """
        let pax = try pythonArchive(script, in: dir, named: "pax.tar")
        let gnu = try pythonArchive(script, in: dir, named: "gnu.tar")
        let nfd = bytes("cafe") + [0xCC, 0x81] + bytes(".txt")
        #expect(try TarballReader.read(path: gnu.path).entries.map(\.path) == [nfd])

        let utf8 = try #require(newlocale(Int32(1) << LC_CTYPE, "C.UTF-8", nil))
        let previous = uselocale(utf8)
        defer { uselocale(previous); freelocale(utf8) }
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: pax.path) }
        #expect(error?.message.contains("outside ASCII") == true)
        #expect(try TarballReader.read(path: gnu.path).entries.map(\.path) == [nfd])
    }

    /// The inspector sees every file's bytes in order, in chunks of at most 1 MiB, and each
    /// symlink's target; a sink that stops early is finished once and the digest still covers
    /// the whole file.
    @Test func inspectorSeesTheContentInChunks() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try pythonArchive("""
            import random
            data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
            open(sys.argv[1] + ".big", "wb").write(data)
            with tarfile.open(sys.argv[1], "w:gz", format=tarfile.GNU_FORMAT) as t:
                member(t, "pkg/big.bin", data=data)
                member(t, "pkg/stop.bin", data=data)
                member(t, "pkg/small.txt", data=b"hello\\n")
                member(t, "pkg/link", type=tarfile.SYMTYPE, linkname="small.txt")
            """, in: dir, named: "content.tar.gz")
        let big = try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive.path + ".big")))
        let collected = Collected()
        let tree = try TarballReader.read(path: archive.path, inspect: { visit in
            collected.record(visit)
            return CollectingSink(visit.path, collected, limit: visit.path == bytes("stop.bin") ? 1 : .max)
        })
        let whole = try #require(collected["big.bin"])
        #expect(whole.bytes == big)
        #expect(whole.visit.size == UInt64(big.count) && whole.visit.kind == .file)
        #expect(whole.chunks >= 4 && whole.finished == 1)
        let stopped = try #require(collected["stop.bin"])
        #expect(stopped.chunks == 1 && stopped.finished == 1 && stopped.bytes == Array(big.prefix(stopped.bytes.count)))
        #expect(collected["small.txt"]?.bytes == bytes("hello\n"))
        let link = try #require(collected["link"])
        #expect(link.visit.kind == .link && link.visit.linkTarget == bytes("small.txt") && link.chunks == 0 && link.finished == 1)
        let byPath = Dictionary(uniqueKeysWithValues: tree.entries.map { ($0.path, $0) })
        #expect(byPath[bytes("stop.bin")]?.digest == SHA256.hash(big))
        #expect(byPath[bytes("link")]?.digest == SHA256.hash(bytes("small.txt")))
    }

    /// GNU tar's sparse encodings (old GNU headers, pax 0.1 and 1.0 maps) are refused: each
    /// reader expands a sparse map its own way, and a few kilobytes of map can declare exabytes
    /// of holes. The error names the header and what it is.
    @Test(arguments: [(["--format=gnu"], "'S' (a GNU sparse file)"),
                      (["--format=posix", "--sparse-version=0.1"], "GNU.sparse"),
                      (["--format=posix", "--sparse-version=1.0"], "GNU.sparse")])
    func sparseMembersAreRefused(options: [String], fragment: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("holes.img")
        #expect(try run("truncate", ["-s", "\(48 << 20)", file.path]).status == 0)
        let handle = try FileHandle(forWritingTo: file)
        for (offset, text) in [(0, "first"), (5 << 20, "middle")] {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(text.utf8))
        }
        try handle.close()
        let archive = dir.appendingPathComponent("holes.tar.zst")
        let made = try run("tar", ["--sparse"] + options + ["--zstd", "-cf", archive.path, "-C", dir.path, "holes.img"])
        #expect(made.status == 0, "\(made.stderr)")
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: archive.path) }
        #expect(error?.message.contains("header 1 at byte 0") == true, "\(error.map(String.init(describing:)) ?? "")")
        #expect(error?.message.contains(fragment) == true, "\(error.map(String.init(describing:)) ?? "")")
    }
}

/// The fuzz check reads archives from memory (`TarballReader.read(bytes:…)`); that reading is
/// the one of the file on disk, so what fuzzing shows holds for `--tarball`. Each tarball seed
/// (accepted or refused, each compression) reads the same from its file, from memory in 64 KiB
/// reads, and from memory one byte per read.
@Suite struct TarballMemoryReadingTests {
    @Test func memoryReadingIsTheFileReading() throws {
        let corpus = repositoryRoot.appendingPathComponent("FuzzTesting/Corpus/tarball")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted()
        try #require(names.count >= 5)
        var accepted = 0
        for name in names {
            let path = corpus.appendingPathComponent(name).path
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            func outcome(_ read: () throws -> TarballTree) -> String {
                do { return "\(try read())" } catch let error as TarballError { return "refused: \(error.message)" } catch { return "\(error)" }
            }
            for strip in [nil, 0] as [Int?] {
                let file = outcome { try TarballReader.read(path: path, stripComponents: strip) }
                #expect(outcome { try TarballReader.read(bytes: bytes, name: path, chunk: 1 << 16, stripComponents: strip) } == file, "\(name)")
                #expect(outcome { try TarballReader.read(bytes: bytes, name: path, chunk: 1, stripComponents: strip) } == file, "\(name)")
                if !file.hasPrefix("refused") { accepted += 1 }
            }
        }
        #expect(accepted >= 8, "too few seeds accepted (\(accepted / 2)) for the comparison to mean anything")
    }
}

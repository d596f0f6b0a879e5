import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import Testing

/// Helpers that write tar headers byte by byte, so a test can build what no tar program
/// writes. `hdr` fills a header (ustar magic unless `magic` says otherwise) and its checksum.
private let rawPrelude = #"""
import bz2, gzip, lzma, subprocess, sys
def hdr(name=b"pkg/f", type=b"0", size=0, mode=0o644, link=b"", magic=b"ustar\x0000", prefix=b"", extra=(), sizefield=None):
    b = bytearray(512)
    b[0:len(name)] = name
    b[100:108] = b"%07o\x00" % mode
    b[108:116] = b"0001750\x00"; b[116:124] = b"0001750\x00"
    b[124:136] = sizefield if sizefield is not None else b"%011o\x00" % size
    b[136:148] = b"14577777777\x00"
    b[156:157] = type
    b[157:157 + len(link)] = link
    b[257:265] = magic
    b[345:345 + len(prefix)] = prefix
    for offset, value in extra: b[offset:offset + len(value)] = value
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\x00 " % sum(b)
    return bytes(b)
def data(d): return d + b"\0" * ((512 - len(d) % 512) % 512)
def records(pairs):
    body = b""
    for k, v in pairs:
        r = b" " + k + b"=" + v + b"\n"
        n = len(r) + 1
        while len(str(n)) + len(r) != n: n += 1
        body += str(n).encode() + r
    return body
def pax(pairs, type=b"x", name=b"PaxHeaders/f"):
    body = records(pairs)
    return hdr(name, type, len(body)) + data(body)
GNU = b"ustar  \x00"
def long(name, type=b"L"): return hdr(b"././@LongLink", type, len(name) + 1, magic=GNU) + data(name + b"\0")
END = b"\0" * 10240
def file(name=b"pkg/a", body=b"x", **kw): return hdr(name, size=len(body), **kw) + data(body)
def zstd(b): return subprocess.run(["zstd", "-q", "-c"], input=b, capture_output=True, check=True).stdout
def out(b): open(sys.argv[1], "wb").write(b)

"""#

/// Writes the archive `script` builds with the raw helpers, and returns its path.
private func rawArchive(_ script: String, in dir: URL, named name: String = "raw.tar") throws -> URL {
    let out = dir.appendingPathComponent(name)
    let result = try run("python3", ["-c", rawPrelude + script, out.path])
    #expect(result.status == 0, "\(result.stderr)")
    return out
}

@Suite struct TarballSubsetTests {
    /// Each archive is outside the subset every extractor reads alike, and is refused with a
    /// message naming the header (number, offset, type) or the compression framing at fault.
    /// Before, libarchive read each one, and GNU tar wrote another tree for several (a pax
    /// global path, a GNU long name beside a pax path, a prefix under an odd magic, a second
    /// archive behind the end marker or in a second gzip member).
    @Test(arguments: [
        // Class 4: headers GNU tar and libarchive read differently.
        ("paxGlobalHeader", "out(pax([(b'path', b'pkg/evil')], type=b'g') + file() + END)", "a global header may hold only 'comment'"),
        ("paxGlobalHeaderLater", "out(file() + pax([(b'comment', b'x')], type=b'g') + file(b'pkg/b') + END)", "only as the first header"),
        ("longNameAndPaxPath", "out(pax([(b'path', b'pkg/one')]) + long(b'pkg/two') + file(b'pkg/two', magic=GNU) + END)", "follows"),
        ("paxPathAfterLongName", "out(long(b'pkg/two') + pax([(b'path', b'pkg/one')]) + file(b'pkg/x') + END)", "follows"),
        ("oddMagicWithPrefix", "out(file(b'a', magic=b'ustar\\x00  ', prefix=b'evil') + END)", "neither POSIX ustar"),
        ("gnuMagicWithPrefix", "out(file(b'a', magic=GNU, prefix=b'evil') + END)", "GNU header bytes 345 to 511"),
        ("gnuMagicPosixVersion", "out(file(b'a', magic=b'ustar 00') + END)", "neither POSIX ustar"),
        ("v7NoMagic", "out(file(b'a', magic=b'\\0' * 8) + END)", "neither POSIX ustar"),
        ("starPrefix", "out(file(b'a', prefix=b'p', extra=[(476, b'14577777777 ')]) + END)", "prefix field has bytes after the NUL"),
        ("volumeHeader", "out(hdr(b'vol', b'V', 1024, magic=GNU) + data(b'v' * 1024) + file() + END)", "'V' (a GNU volume header)"),
        ("multiVolume", "out(hdr(b'pkg/a', b'M', 1, magic=GNU) + data(b'x') + END)", "GNU multi-volume"),
        ("contiguousFile", "out(hdr(b'pkg/a', b'7', 1) + data(b'x') + END)", "contiguous file"),
        ("oldRegularType", "out(hdr(b'pkg/a', b'\\0', 1) + data(b'x') + END)", "old regular file"),
        ("unknownPaxKey", "out(pax([(b'SCHILY.xattr.user.x', b'1')]) + file() + END)", "SCHILY.xattr.user.x"),
        ("paxCharset", "out(pax([(b'hdrcharset', b'BINARY')]) + file() + END)", "hdrcharset"),
        ("paxKeyTwice", "out(pax([(b'path', b'pkg/a'), (b'path', b'pkg/b')]) + file() + END)", "given twice"),
        ("paxEmptyPath", "out(pax([(b'path', b'')]) + file() + END)", "empty value"),
        ("paxSizeDiffers", "out(pax([(b'size', b'1')]) + file(body=b'xy') + END)", "differs from its header"),
        ("paxBadLength", "out(hdr(b'PaxHeaders/f', b'x', 12) + data(b'99 path=ab\\n') + file() + END)", "no valid length"),
        ("numberWithGarbage", "out(hdr(b'pkg/a', sizefield=b'0000000001x\\0') + data(b'x') + END)", "size field"),
        ("nameAfterNul", "out(file(b'pkg/a\\0evil') + END)", "name field has bytes after the NUL"),
        ("badChecksum", "h = bytearray(file()); h[0] = ord('q'); out(bytes(h) + END)", "checksum is wrong"),
        ("fileWithSlash", "out(file(b'pkg/a/') + END)", "ends with '/'"),
        ("symlinkWithContent", "out(hdr(b'pkg/l', b'2', 1, link=b'a') + data(b'x') + END)", "declare no content"),
        ("fileWithLinkName", "out(hdr(b'pkg/a', link=b'other') + END)", "only a symlink may have a link name"),
        ("longNameWithoutNul", "out(hdr(b'././@LongLink', b'L', 5, magic=GNU) + data(b'pkg/a') + file(magic=GNU) + END)", "end with its one NUL"),
        ("longNameUnderPosixMagic", "out(hdr(b'././@LongLink', b'L', 6) + data(b'pkg/a\\0') + file() + END)", "must have the GNU magic"),
        ("paxUnderGnuMagic", "out(hdr(b'PaxHeaders/f', b'x', 13, magic=GNU) + data(records([(b'path', b'a')])) + file() + END)", "must have the POSIX ustar magic"),
        ("dataAfterTheEnd", "out(file() + b'\\0' * 1024 + file(b'pkg/evil') + END)", "bytes other than zeros follow"),
        ("loneZeroBlock", "out(file() + b'\\0' * 512)", "one zero block, not two"),
        ("noEndMarker", "out(file())", "without the end-of-archive marker"),
        ("pathTooLongForTar", "out(pax([(b'path', b'pkg/' + b'd/' * 2100 + b'f')]) + file() + END)", "longer than tar -x can create"),
        ("nameTooLongForTar", "out(pax([(b'path', b'pkg/' + b'n' * 256)]) + file() + END)", "255 bytes"),
        // Class 4: data hidden in the compression framing.
        ("gzipTrailingBytes", "out(gzip.compress(file() + END) + b'garbage')", "data after the end of its gzip stream"),
        ("gzipTwoMembers", "out(gzip.compress(file() + END) + gzip.compress(file(b'pkg/evil') + END))", "data after the end of its gzip stream"),
        ("xzTwoStreams", "out(lzma.compress(file() + END) + lzma.compress(file(b'pkg/evil') + END))", "data after the end of its xz stream"),
        ("xzStreamPadding", "out(lzma.compress(file() + END) + b'\\0' * 4)", "data after the end of its xz stream"),
        ("bzip2TwoStreams", "out(bz2.compress(file() + END) + bz2.compress(file(b'pkg/evil') + END))", "data after the end of its bzip2 stream"),
        ("zstdTwoFrames", "out(zstd(file() + END) + zstd(file(b'pkg/evil') + END))", "data after the end of its zstd stream"),
        ("zstdSkippableFrame", "out(zstd(file() + END) + bytes.fromhex('502a4d18') + (4).to_bytes(4, 'little') + b'evil')", "data after the end of its zstd stream"),
        ("gzipTwice", "out(gzip.compress(gzip.compress(file() + END)))", "ends inside a block"),
        ("gzipTruncated", "out(gzip.compress(file() + END)[:-12])", "truncated"),
        ("tarThatStartsLikeGzip", "out(file(b'\\x1f\\x8b\\x08pkg') + END)", "ambiguous"),
        ("lzipData", "out(b'LZIP\\x01' + b'\\0' * 600)", "lzip data"),
        // Class 5: bombs.
        ("sparseExabyte", "out(gzip.compress(hdr(b'pkg/big', b'S', 0, magic=GNU, extra=[(386, b'%011o\\0' % (1 << 30)), (398, b'%011o\\0' % 0), (483, b'\\x80' + (1 << 60).to_bytes(11, 'big'))]) + END))", "GNU sparse file"),
        ("sparseMapPax", "out(pax([(b'GNU.sparse.major', b'1'), (b'GNU.sparse.minor', b'0'), (b'GNU.sparse.name', b'pkg/big'), (b'GNU.sparse.realsize', b'%d' % (1 << 60))]) + hdr(b'pkg/GNUSparseFile.0/big', size=512) + data(b'2000000\\n' + b'0\\n1\\n' * 1000)[:512] + END)", "GNU.sparse"),
        ("declaredExabyte", "out(gzip.compress(hdr(b'pkg/big', sizefield=b'\\x80' + (1 << 60).to_bytes(11, 'big')) + END))", "declares 1152921504606846976 bytes"),
        ("xzOfZeros", "out(lzma.compress(file() + END + b'\\0' * (64 << 20), preset=9))", "decompression bomb"),
    ])
    func outsideTheSubsetIsRefused(name: String, script: String, fragment: String) throws {
        let dir = try temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try rawArchive(script, in: dir)
        let error = #expect(throws: TarballError.self) { try TarballReader.read(path: archive.path) }
        #expect(error?.message.contains(fragment) == true, "\(name): \(error.map(String.init(describing:)) ?? "")")
    }

    /// The same builders make archives the subset accepts, so the refusals above are about
    /// the one thing each changes: ustar with a prefix, GNU long names, pax names and times,
    /// git archive's comment-only global header, base-256 sizes, each compression.
    @Test(arguments: [
        ("ustarPrefix", "out(file(b'b/f', prefix=b'pkg/a') + END)", ["pkg/a/b/f"]),
        ("gnuLongNames", "n = b'pkg/' + b'd' * 150; out(long(n) + long(b'pkg/' + b't' * 120, b'K') + hdr(n[:100], b'2', magic=GNU) + END)", ["pkg/" + String(repeating: "d", count: 150)]),
        ("paxNameAndTimes", "out(pax([(b'path', b'pkg/' + b'p' * 200), (b'mtime', b'1700000000.5'), (b'atime', b'-1'), (b'uname', b'r\\xc3\\xa9')]) + file(b'x') + END)", ["pkg/" + String(repeating: "p", count: 200)]),
        ("gitArchiveComment", "out(pax([(b'comment', b'0' * 40)], type=b'g', name=b'pax_global_header') + file() + END)", ["pkg/a"]),
        ("base256Size", "out(hdr(b'pkg/a', sizefield=b'\\x80' + (1).to_bytes(11, 'big')) + data(b'x') + END)", ["pkg/a"]),
        ("gzip", "out(gzip.compress(file() + END))", ["pkg/a"]),
        ("xz", "out(lzma.compress(file() + END))", ["pkg/a"]),
        ("bzip2", "out(bz2.compress(file() + END))", ["pkg/a"]),
        ("zstd", "out(zstd(file() + END))", ["pkg/a"]),
    ])
    func insideTheSubsetIsRead(name: String, script: String, paths: [String]) throws {
        let dir = try temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try rawArchive(script, in: dir)
        let tree = try TarballReader.read(path: archive.path, stripComponents: 0)
        #expect(tree.entries.map { String(decoding: $0.path, as: UTF8.self) } == paths)
    }

    /// GNU tar's own output in each of its formats, of a tree with long names, an exec bit
    /// and a symlink, reads as the tree it was made from.
    @Test(arguments: ["gnu", "pax", "ustar", "posix"])
    func gnuTarOutputIsRead(format: String) throws {
        let dir = try temporaryDirectory(format)
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("pkg-1.0")
        let deep = root.appendingPathComponent(String(repeating: "long-directory-name/", count: 4))
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: deep.appendingPathComponent(String(repeating: "f", count: 90) + ".txt"))
        try Data("#!/bin/sh\n".utf8).write(to: root.appendingPathComponent("run"))
        #expect(chmod(root.appendingPathComponent("run").path, 0o755) == 0)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "run")
        let archive = dir.appendingPathComponent("pkg.tar.xz")
        let made = try run("tar", ["--format=\(format)", "-cJf", archive.path, "-C", dir.path, "pkg-1.0"])
        #expect(made.status == 0, "\(made.stderr)")
        let tree = try TarballReader.readRelease(path: archive.path)
        #expect(tree.strippedPrefix == bytes("pkg-1.0"))
        #expect(tree.entries == (try DirectoryReader.read(root: root.path)))
    }

    /// The top-level directory that is stripped is still checked by the path rules, however
    /// it is spelt: `tar -x` writes it, and no manifest lists it. Before, `.GIT/` verified.
    @Test(arguments: [(".GIT", ".GIT"), ("git~1", "git~1"), (".git.", ".git."), ("CON", "CON"), ("a\\x1b[2J", "a\\x1b[2J")])
    func theStrippedDirectoryIsChecked(top: String, shown: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try rawArchive("out(file(b'\(top)/config', b'[core]') + file(b'\(top)/hooks/x') + END)", in: dir)
        #expect(try TarballReader.read(path: archive.path).entries.count == 2)
        let error = #expect(throws: TarballError.self) { try TarballReader.readRelease(path: archive.path) }
        #expect(error?.entry == shown, "\(error.map(String.init(describing:)) ?? "")")
        #expect(error?.message.contains("top-level directory stripped") == true)
        // Stripped explicitly: every leading directory removed is checked, at every depth.
        let nested = try rawArchive("out(file(b'pkg/\(top)/config') + END)", in: dir, named: "nested.tar")
        let deeper = #expect(throws: TarballError.self) { try TarballReader.readRelease(path: nested.path, stripComponents: 2) }
        #expect(deeper?.entry == "pkg/" + shown)
        #expect(try TarballReader.readRelease(path: nested.path, stripComponents: 0).entries.count == 1)
    }

    /// An honest top directory passes.
    @Test func anHonestTopDirectoryPasses() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = try rawArchive("out(file(b'curl-8.21.0/README') + END)", in: dir)
        let tree = try TarballReader.readRelease(path: archive.path)
        #expect(tree.strippedPrefix == bytes("curl-8.21.0") && tree.strippedDirectories == [bytes("curl-8.21.0")])
    }
}

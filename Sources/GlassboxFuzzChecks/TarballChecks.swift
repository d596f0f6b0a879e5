import Glassbox
import GlassboxCrypto
import GlassboxGit

// The tarball reader: its decompression front (gzip, xz, bzip2, zstd or none, by magic) and its
// strict tar parser, on the archive's bytes as a vendor hands them over.

/// A tarball: the input is the whole archive file. The reading does not depend on where reads
/// end (the archive handed over 64 KiB at a time and a few bytes at a time gives the same tree,
/// or is refused both times), a refusal is the same when read again, only `TarballError` is thrown, and an accepted tree is one `tar -x`
/// could write: sorted unique paths that pass the path rules, names of at most 255 bytes, paths
/// of at most 4095, nothing under a file or symlink, empty directories that are neither entries
/// nor parents of one, and content no larger than the decompression bound allows for an input
/// of this size. Read again with the top directory stripped and an inspector, it is the same
/// tree under that directory, and the inspector sees each entry's path, size and exact bytes.
func checkTarball(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    let small = Int(1 + choice(input, salt: 0x7a72) % 1024)
    let whole = try tarballReading(input, chunk: 1 << 16, strip: 0)
    let split = try tarballReading(input, chunk: small, strip: 0)
    let tree: TarballTree
    switch (whole, split) {
    case let (.failure(a), .failure):
        // Which refusal is named may depend on the reads: a gzip trailer's failed CRC is found
        // in the same inflate call as the last bytes when the whole file is at hand, after the
        // tar parser saw those bytes (and refused them) when it comes in small reads. Read the
        // same way, it is the same refusal.
        guard case let .failure(again) = try tarballReading(input, chunk: 1 << 16, strip: 0), again.message == a.message else {
            throw PropertyViolation("read twice the same way, it is refused as '\(a.message)' and then otherwise")
        }
        return .rejected
    case let (.success(a), .success(b)):
        try require(a == b, "read \(small) bytes at a time it is another tree")
        tree = a
    case let (.success, .failure(error)), let (.failure(error), .success):
        throw PropertyViolation("the archive is accepted or refused ('\(error.message)') depending on where reads end (\(small) bytes)")
    }
    try requireWritableTree(tree, inputBytes: input.count, compressed: looksCompressed(input))

    let seen = SeenContent()
    let inspected: TarballTree
    switch try tarballReading(input, chunk: 1 << 16, strip: nil, inspect: seen.inspector) {
    case let .failure(error):
        // The reader never refuses for the top directory itself (the path rules the release
        // check applies to it are outside the reader): what strip 0 takes, the default takes.
        throw PropertyViolation("accepted with nothing stripped, refused with the automatic strip: \(error.message)")
    case let .success(value): inspected = value
    }
    var expected = tree.entries
    if let top = inspected.strippedPrefix {
        try require(inspected.strippedDirectories == [top], "the stripped directories are not the one top directory")
        expected = expected.map { TreeEntry(path: Array($0.path.dropFirst(top.count + 1)), kind: $0.kind, size: $0.size, digest: $0.digest) }
        try require(tree.entries.allSatisfy { $0.path.starts(with: top + [UInt8(ascii: "/")]) }, "an entry lies outside the stripped top directory")
    }
    try require(inspected.entries == expected, "stripping the top directory changes more than the paths")
    let visits = seen.visits.sorted { $0.path.lexicographicallyPrecedes($1.path) }
    try require(visits.count == expected.count, "the inspector saw \(visits.count) entries, the tree has \(expected.count)")
    for (visit, entry) in zip(visits, expected) {
        try require(visit.path == entry.path && visit.kind == entry.kind && visit.size == entry.size && visit.digest == entry.digest,
                    "the inspector saw '\(Escaping.escape(visit.path))' otherwise than the tree records it")
    }
    return .checked
}

/// One reading of the archive in memory; any error but `TarballError` breaks the property.
private func tarballReading(_ input: [UInt8], chunk: Int, strip: Int?, inspect: ContentInspector? = nil) throws
    -> Result<TarballTree, TarballError> {
    do {
        return .success(try TarballReader.read(bytes: input, name: "fuzz.tar", chunk: chunk, stripComponents: strip, inspect: inspect))
    } catch let error as TarballError {
        return .failure(error)
    } catch {
        throw PropertyViolation("the tarball reader threw \(type(of: error)), not TarballError: \(error)")
    }
}

/// Whether the input starts with the magic of a compression the reader decodes.
private func looksCompressed(_ input: [UInt8]) -> Bool {
    [[0x1F, 0x8B], [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], Array("BZh".utf8), [0x28, 0xB5, 0x2F, 0xFD]].contains { input.starts(with: $0) }
}

private func requireWritableTree(_ tree: TarballTree, inputBytes: Int, compressed: Bool) throws {
    let slash = UInt8(ascii: "/")
    let paths = Set(tree.entries.map(\.path))
    var total: UInt64 = 0
    for (index, entry) in tree.entries.enumerated() {
        let shown = Escaping.escape(entry.path)
        if index > 0 { try require(tree.entries[index - 1].path.lexicographicallyPrecedes(entry.path), "'\(shown)' is out of order or twice") }
        if let problem = pathProblem(entry.path) { throw PropertyViolation("'\(shown)' is accepted, but: \(problem)") }
        try require(entry.path.count <= 4095, "'\(shown)' is longer than tar -x can create")
        try require(entry.path.split(separator: slash).allSatisfy { $0.count <= 255 }, "'\(shown)' has a name over 255 bytes")
        try require([.file, .exec, .link].contains(entry.kind), "'\(shown)' is neither a file nor a symlink")
        try require(entry.digest.count == SHA256.byteCount, "'\(shown)' has no SHA-256")
        if entry.kind == .link { try require(entry.size > 0 && entry.size < 4096, "the symlink '\(shown)' has a target of \(entry.size) bytes") }
        var end = entry.path.startIndex
        while let next = entry.path[end...].firstIndex(of: slash) {
            try require(!paths.contains(Array(entry.path[..<next])), "'\(shown)' lies under a file or symlink")
            end = next + 1
        }
        total += entry.size
    }
    let bound = compressed ? UInt64(inputBytes) * TarballLimits.expansion + TarballLimits.slackBytes : UInt64(inputBytes)
    try require(total <= bound, "\(total) bytes of content from a \(inputBytes)-byte archive, over the bound of \(bound)")
    for directory in tree.emptyDirectories {
        let shown = Escaping.escape(directory)
        if let problem = pathProblem(directory) { throw PropertyViolation("the empty directory '\(shown)' is accepted, but: \(problem)") }
        try require(!paths.contains(directory), "'\(shown)' is both an empty directory and an entry")
        try require(!tree.entries.contains { $0.path.starts(with: directory + [slash]) }, "the empty directory '\(shown)' has entries")
    }
}

/// What an inspector was shown: each path with its kind, size and the SHA-256 of the bytes
/// (a symlink's target). The reader calls it on the calling thread, one entry at a time.
private final class SeenContent: @unchecked Sendable {
    struct Visit { var path: [UInt8]; var kind: EntryKind; var size: UInt64; var digest: [UInt8] }
    var visits: [Visit] = []

    var inspector: ContentInspector {
        { [self] visit in
            let index = visits.count
            visits.append(Visit(path: visit.path, kind: visit.kind, size: visit.size,
                                digest: visit.kind == .link ? SHA256.hash(visit.linkTarget) : []))
            return visit.kind == .link ? nil : Sink { self.visits[index].digest = $0 }
        }
    }

    final class Sink: ContentSink {
        let hasher = SHA256.Hasher()
        let done: ([UInt8]) -> Void
        init(_ done: @escaping ([UInt8]) -> Void) { self.done = done }
        func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
            if let base = chunk.baseAddress { hasher.update(base, count: chunk.count) }
            return true
        }
        func finish() { done(hasher.finish()) }
    }
}

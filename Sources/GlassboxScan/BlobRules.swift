import GlassboxGit

// Content a reader cannot review as text: executables, LFS pointers, large binary blobs.

/// Executables, LFS pointers and large binaries, from the first bytes of a file (`head`) and its size.
func opaqueContent(path: [UInt8], size: UInt64, head: ArraySlice<UInt8>, binary: Bool, options: ScanOptions) -> [ScanFinding] {
    var out: [ScanFinding] = []
    let magic: [(bytes: [UInt8], what: String)] = [
        ([0x7F, 0x45, 0x4C, 0x46], "an ELF executable or object"), ([0x4D, 0x5A], "a PE (Windows) executable"),
        ([0xFE, 0xED, 0xFA, 0xCE], "a Mach-O binary"), ([0xFE, 0xED, 0xFA, 0xCF], "a Mach-O binary"),
        ([0xCE, 0xFA, 0xED, 0xFE], "a Mach-O binary"), ([0xCF, 0xFA, 0xED, 0xFE], "a Mach-O binary"),
        ([0xCA, 0xFE, 0xBA, 0xBE], "a Mach-O universal binary"), (Array("!<arch>\n".utf8), "a static library archive"),
    ]
    if let hit = magic.first(where: { head.starts(with: $0.bytes) }),
       hit.bytes != [0x4D, 0x5A] || binary {   // "MZ" starts some text files too
        out.append(ScanFinding("binary-executable", .warning, path: path, "\(hit.what), committed where source is expected"))
    }
    if head.starts(with: Array("version https://git-lfs.github.com/spec/v1\n".utf8)) && size < 1024 {
        out.append(ScanFinding("lfs-pointer", .warning, path: path, "a Git LFS pointer: the real content is stored elsewhere and cannot be reviewed here"))
    }
    if size >= options.largeBinaryBytes && binary {
        out.append(ScanFinding("binary-large", .note, path: path, "a binary blob of \(size) bytes"))
    }
    return out
}


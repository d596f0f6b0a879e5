import Foundation
import GlassboxGit

// Names that some file system reads differently from git: collisions, reserved names, .git look-alikes.

/// Findings on the paths of a tree. `directories` holds every proper prefix of every path in
/// `files` (as `scanTree` builds it), so each component of a path is the last name of exactly
/// one path or directory: the rules that read one name check each component once, at the
/// shortest path that holds it (`a/.GIT/b` is reported as `a/.GIT`), and their work is linear
/// in the total bytes of the names. `links` are the paths in `files` that are symlinks.
func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>, links: Set<[UInt8]> = []) -> [ScanFinding] {
    pathFindings(files, directories, links: links, contains: { files.contains($0) || directories.contains($0) })
}

private func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>, links: Set<[UInt8]>,
                          contains: ([UInt8]) -> Bool) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    var byCase: [[UInt8]: [[UInt8]]] = [:]
    var byNFC: [[UInt8]: [[UInt8]]] = [:]
    // No global sort: the caller sorts the findings, and groups are sorted below.
    for (isDirectory, paths) in [(false, files), (true, directories)] {
        for path in paths {
            let ascii = !path.contains { $0 >= 0x80 }
            // Two paths can only collide when folding changes one of them, so only those are kept:
            // memory stays small for the usual all-lowercase tree.
            if !ascii || path.contains(where: { (0x41...0x5A).contains($0) }) {
                let folded = ascii ? path.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
                    : Array(String(decoding: path, as: UTF8.self).lowercased().utf8)
                byCase[folded, default: []].append(path)
            }
            if !ascii {
                byNFC[Array(String(decoding: path, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8), default: []].append(path)
            }
            let name = path[(path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? path.startIndex)...]
            nameFindings(path, name, isDirectory: isDirectory, isLink: links.contains(path), into: &findings)
        }
    }
    // A folded or normalised name can equal a path that was not folded (an ASCII lowercase one;
    // U+212A KELVIN SIGN normalises to K).
    for (key, group) in byCase where contains(key) && !group.contains(key) { byCase[key] = group + [key] }
    for (key, group) in byNFC where contains(key) && !group.contains(key) { byNFC[key] = group + [key] }
    for (_, group) in byCase where group.count > 1 {
        for path in group.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            findings.append(ScanFinding("path-case-collision", .error, path: path,
                                        "collides on a case-insensitive file system with " + group.filter { $0 != path }.map { "'\(Escaping.escape($0))'" }.joined(separator: ", ")))
        }
    }
    for (_, group) in byNFC where group.count > 1 {
        for path in group.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            findings.append(ScanFinding("path-normalization-collision", .error, path: path,
                                        "the same name after Unicode normalisation as " + group.filter { $0 != path }.map { "'\(Escaping.escape($0))'" }.joined(separator: ", ")))
        }
    }
    return findings
}

private let backslash = UInt8(ascii: "\\")
private let colon = UInt8(ascii: ":")

/// The rules that read the last name of `path`, at most one finding per rule.
private func nameFindings(_ path: [UInt8], _ name: ArraySlice<UInt8>, isDirectory: Bool, isLink: Bool,
                          into findings: inout [ScanFinding]) {
    var shown: String { Escaping.escape(Array(name)) }
    if name.contains(where: { $0 < 0x20 || $0 == 0x7F })
        || (name.contains { $0 >= 0x80 } && String(decoding: name, as: UTF8.self).unicodeScalars.contains { (0x80...0x9F).contains($0.value) }) {
        findings.append(ScanFinding("path-control-character", .error, path: path, "a control character in the name"))
    }
    if isWindowsReserved(name) {
        findings.append(ScanFinding("path-windows-reserved", .warning, path: path,
                                    "'\(shown)' is a reserved device name on Windows"))
    }
    if name.last == UInt8(ascii: ".") || name.last == UInt8(ascii: " ") {
        findings.append(ScanFinding("path-trailing-dot-space", .warning, path: path,
                                    "Windows drops a trailing dot or space from '\(shown)'"))
    }
    // Windows splits a name at a backslash, so each part is a name of its own there (git's
    // fsck and verify_path read `.git\x` as a file inside .git).
    let parts = name.contains(backslash) ? name.split(separator: backslash, omittingEmptySubsequences: false) : [name]
    if parts.count > 1 {
        findings.append(ScanFinding("path-backslash", .error, path: path,
                                    "Windows reads the backslash in '\(shown)' as a directory separator"))
    }
    if name.contains(colon) {
        findings.append(ScanFinding("path-ntfs-stream", .error, path: path,
                                    "NTFS reads what follows the colon in '\(shown)' as an alternate data stream, hidden beside the file"))
    }
    let folded = parts.map { mayBeGitName($0) ? foldedAsGitReads($0) : (name: [], endedEarly: false) }
    if let index = folded.firstIndex(where: { isDotGit($0.name) }) {
        let which = parts.count > 1 ? "the part '\(Escaping.escape(Array(parts[index])))' of '\(shown)'" : "'\(shown)'"
        findings.append(ScanFinding("path-git-lookalike", .error, path: path,
                                    "\(which) is read as .git on some file systems (case-insensitive, NTFS or HFS+)"))
    }
    // git reads these files by name from the work tree. Of the parts, only the last can be one
    // (the others are directories on Windows), or one that a colon or malformed UTF-8 ends
    // before the next backslash: git reads no further.
    guard !isDirectory, let file = folded.indices.lazy
        .filter({ $0 == folded.count - 1 || folded[$0].endedEarly })
        .compactMap({ gitFile(folded[$0].name) }).first else { return }
    if isLink {
        findings.append(ScanFinding("path-gitfile-symlink", .error, path: path,
                                    "a symlink that git reads as \(file): git refuses a symlinked .gitmodules and does not follow the others"))
    } else if !name.elementsEqual(file.utf8) {
        findings.append(ScanFinding("path-gitfile-lookalike", .warning, path: path,
                                    "'\(shown)' is read as \(file) on some file systems (case-insensitive, NTFS or HFS+)"))
    }
}

private let reservedNames: Set<String> = Set(["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
    + (0...9).flatMap { ["COM\($0)", "LPT\($0)"] })

/// CON, NUL, COM1 … with or without an extension or a stream name, as Windows reserves them
/// (and git for Windows, which also refuses CONIN$ and CONOUT$).
private func isWindowsReserved(_ name: ArraySlice<UInt8>) -> Bool {
    // Every reserved name starts with C, P, A, N or L: most names are out at the first byte.
    guard let first = name.first, "CPANLcpanl".utf8.contains(first) else { return false }
    var base = name.prefix { $0 != UInt8(ascii: ".") && $0 != colon }
    while base.last == UInt8(ascii: " ") { base.removeLast() }
    guard (3...7).contains(base.count) else { return false }
    return reservedNames.contains(String(decoding: base, as: UTF8.self).uppercased())
}

/// One name (no `/` or `\`) as git's NTFS and HFS+ checks compare it (`is_ntfs_dotgit`,
/// `is_ntfs_dot_generic`, `is_hfs_dot_generic` in git's path.c and utf8.c, v2.55.0), all at
/// once so the result is at least as strict as either: what precedes the first colon (NTFS
/// reads the rest as a stream), without default-ignorable code points (HFS+ ignores git's
/// list of them, U+200C–U+200F, U+202A–U+202E, U+206A–U+206F and U+FEFF, all
/// default-ignorable), up to a malformed UTF-8 sequence, U+FFFE or U+FFFF (git's decoder
/// stops there and its HFS+ check takes that for the end of the name), without trailing dots
/// and spaces (Windows drops them), with ASCII letters in lower case. Other code points
/// become 0x80: they match nothing git looks for. `endedEarly`: a colon or a malformed
/// sequence ended the name before its last byte.
private func foldedAsGitReads(_ part: ArraySlice<UInt8>) -> (name: [UInt8], endedEarly: Bool) {
    var out: [UInt8] = []
    var endedEarly = false
    var bytes = part.makeIterator()
    var decoder = Unicode.UTF8()
    decoding: while true {
        switch decoder.decode(&bytes) {
        case .emptyInput: break decoding
        case .error:
            endedEarly = true
            break decoding
        case .scalarValue(let scalar):
            switch scalar.value {
            case UInt32(colon), 0xFFFE, 0xFFFF:
                endedEarly = true
                break decoding
            case 0x41...0x5A: out.append(UInt8(scalar.value) | 0x20)
            case 0...0x7F: out.append(UInt8(scalar.value))
            case let v where UnicodeTables.isDefaultIgnorable(v): continue
            default: out.append(0x80)
            }
        }
    }
    while out.last == UInt8(ascii: ".") || out.last == UInt8(ascii: " ") { out.removeLast() }
    return (out, endedEarly)
}

/// Whether `part` may be a spelling git looks for: each starts with a dot or holds a tilde, so
/// a plain ASCII name (nothing to skip) that does neither is not one. Most names stop here.
private func mayBeGitName(_ part: ArraySlice<UInt8>) -> Bool {
    part.first == UInt8(ascii: ".") || part.contains { $0 == UInt8(ascii: "~") || $0 >= 0x80 }
}

private let dotGitFolded = Array(".git".utf8), gitShortName = Array("git~1".utf8)

/// `.git`, or `git~1`: NTFS gives `.git` that short name, as git makes it the first entry of
/// its directory.
private func isDotGit(_ folded: [UInt8]) -> Bool { folded == dotGitFolded || folded == gitShortName }

/// The files git reads by name from a work tree, with the first six letters of the short name
/// NTFS makes for each when the plain one is taken (from git's path.c, v2.55.0).
private let gitFiles: [(name: String, dotted: [UInt8], hashedPrefix: [UInt8])] = [
    (".gitmodules", "gi7eba"), (".gitattributes", "gi7d29"), (".gitignore", "gi250a"), (".mailmap", "maba30"),
].map { ($0.0, Array($0.0.utf8), Array($0.1.utf8)) }

/// Which of those files git reads `folded` as: the name itself in any case, or an 8.3 short
/// name, the six first letters and `~1` to `~4`, or the hashed prefix with a tilde and digits
/// in eight characters (`gi7eba~1`, `gi7eb~10`, `~1000000`).
private func gitFile(_ folded: [UInt8]) -> String? {
    let tilde = UInt8(ascii: "~"), digits = UInt8(ascii: "0")...UInt8(ascii: "9")
    for file in gitFiles {
        if folded == file.dotted { return file.name }
        guard folded.count == 8 else { continue }
        if folded[0..<6].elementsEqual(file.dotted[1..<7]) && folded[6] == tilde && (UInt8(ascii: "1")...UInt8(ascii: "4")).contains(folded[7]) {
            return file.name
        }
        // git's fall-back short name: up to six letters of the hashed prefix, a tilde, then a
        // number that does not start with 0, eight characters in all.
        var i = 0, sawTilde = false, matches = true
        while i < 8 && matches {
            if sawTilde {
                matches = digits.contains(folded[i])
            } else if folded[i] == tilde {
                i += 1
                matches = i < 8 && (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(folded[i])
                sawTilde = true
            } else {
                matches = i < 6 && folded[i] == file.hashedPrefix[i]
            }
            i += 1
        }
        if matches && sawTilde { return file.name }
    }
    return nil
}

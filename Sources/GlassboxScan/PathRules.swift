import Foundation
import GlassboxGit

// Names that some file system reads differently from git: collisions, reserved names, .git look-alikes.

func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>) -> [ScanFinding] {
    pathFindings(files, directories, contains: { files.contains($0) || directories.contains($0) })
}

private func pathFindings(_ files: Set<[UInt8]>, _ directories: Set<[UInt8]>, contains: ([UInt8]) -> Bool) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    var byCase: [[UInt8]: [[UInt8]]] = [:]
    var byNFC: [[UInt8]: [[UInt8]]] = [:]
    // No global sort: the caller sorts the findings, and groups are sorted below.
    for path in [files, directories].joined() {
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
        let name = Array(path[(path.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? path.startIndex)...])
        if path.contains(where: { $0 < 0x20 || $0 == 0x7F })
            || (!ascii && String(decoding: path, as: UTF8.self).unicodeScalars.contains { (0x80...0x9F).contains($0.value) }) {
            findings.append(ScanFinding("path-control-character", .error, path: path, "a control character in the name"))
        }
        if isWindowsReserved(name) {
            findings.append(ScanFinding("path-windows-reserved", .warning, path: path,
                                        "'\(Escaping.escape(name))' is a reserved device name on Windows"))
        }
        if name.last == UInt8(ascii: ".") || name.last == UInt8(ascii: " ") {
            findings.append(ScanFinding("path-trailing-dot-space", .warning, path: path,
                                        "Windows drops a trailing dot or space from '\(Escaping.escape(name))'"))
        }
        if looksLikeGitDirectory(name) {
            findings.append(ScanFinding("path-git-lookalike", .error, path: path,
                                        "'\(Escaping.escape(name))' is read as .git on some file systems (case-insensitive, NTFS or HFS+)"))
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

private let reservedNames: Set<String> = Set(["CON", "PRN", "AUX", "NUL", "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
    + (1...9).flatMap { ["COM\($0)", "LPT\($0)"] })

/// CON, NUL, COM1 … with or without an extension, as Windows reserves them.
private func isWindowsReserved(_ name: [UInt8]) -> Bool {
    // Every reserved name starts with C, P, A, N or L: most names are out at the first byte.
    guard let first = name.first, "CPANLcpanl".utf8.contains(first) else { return false }
    let base = name.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
    guard (3...5).contains(base.count) else { return false }
    return reservedNames.contains(String(decoding: base, as: UTF8.self).uppercased().trimmingCharacters(in: .whitespaces))
}

/// `.git` in another spelling: other case, trailing dots or spaces, invisible characters (HFS+
/// ignores them), or the 8.3 short name `git~1` (NTFS).
private func looksLikeGitDirectory(_ name: [UInt8]) -> Bool {
    guard name != Array(".git".utf8), name.count >= 4, name.count < 64 else { return false }
    // Every spelling holds the letters g, i, t (in either case), or characters outside ASCII.
    let lower = name.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
    guard lower.contains(where: { $0 >= 0x80 }) || lower.firstRange(of: Array("git".utf8)) != nil else { return false }
    let text = String(decoding: name, as: UTF8.self)
    let visible = String(String.UnicodeScalarView(text.unicodeScalars.filter { !UnicodeTables.isDefaultIgnorable($0.value) })).lowercased()
    if visible == "git~1" { return true }
    guard visible.hasPrefix(".git") else { return false }
    return visible.dropFirst(4).allSatisfy { $0 == "." || $0 == " " }
}


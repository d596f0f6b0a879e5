import GlassboxGit

/// `target` resolved against the symlink's directory, or nil when it climbs out of the tree.
func resolveLink(_ path: [UInt8], _ target: [UInt8]) -> [UInt8]? {
    var parts = path.split(separator: UInt8(ascii: "/")).dropLast().map(Array.init)
    for component in target.split(separator: UInt8(ascii: "/")) {
        if component.elementsEqual([0x2E]) { continue }
        if component.elementsEqual([0x2E, 0x2E]) {
            if parts.isEmpty { return nil }
            parts.removeLast()
        } else {
            parts.append(Array(component))
        }
    }
    return Array(parts.joined(separator: [UInt8(ascii: "/")]))
}

func symlinkFindings(_ entries: [TreeEntry], _ targets: [[UInt8]: [UInt8]], paths: Set<[UInt8]>,
                             directories: Set<[UInt8]>) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    let links = Set(entries.filter { $0.kind == .link }.map(\.path))
    for entry in entries where entry.kind == .link {
        guard let target = targets[entry.path] else { continue }
        let shownTarget = Escaping.escape(target)
        if target.first == UInt8(ascii: "/") {
            findings.append(ScanFinding("symlink-absolute", .error, path: entry.path, "points to the absolute path '\(shownTarget)', outside the release"))
            continue
        }
        guard let resolved = resolveLink(entry.path, target) else {
            findings.append(ScanFinding("symlink-escapes", .error, path: entry.path, "points to '\(shownTarget)', which climbs out of the tree"))
            continue
        }
        if links.contains(resolved) {
            findings.append(ScanFinding("symlink-chain", .note, path: entry.path, "points to '\(shownTarget)', itself a symlink"))
        } else if !paths.contains(resolved) && !directories.contains(resolved) && !resolved.isEmpty {
            findings.append(ScanFinding("symlink-dangling", .warning, path: entry.path, "points to '\(shownTarget)', which is not in the tree"))
        }
    }
    return findings
}

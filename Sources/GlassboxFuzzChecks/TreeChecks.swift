import GlassboxScan
import Glassbox
import GlassboxCrypto
import GlassboxGit

// What the tree itself hands over: path bytes, file contents, `.gitattributes` files; and the
// logic that judges it: escaping, the tree comparison and the Merkle proof checks.

/// `.gitattributes` and its glob matcher, through the public tree scan. Input: a pattern, NUL,
/// more attribute lines, then NUL-separated paths, each `PATH` (a file) or `PATH 0x01 TARGET` (a
/// symlink). The scan ends (a pattern cannot make it run for ever), reports only paths of the
/// tree (or the attributes file, for a finding about one of its lines, whose `paths` are paths
/// of the tree) and every symlink to an absolute path, and a pattern from a simple class
/// matches exactly the files it should: a literal name, `*SUFFIX`, `PREFIX*`, a literal path
/// with a `/`.
func checkGitattributes(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    let fields = input.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
    let pattern = fields.first ?? [], extra = fields.count > 1 ? fields[1] : []
    var facts = TreeFacts()
    var paths: [[UInt8]] = [], entries: [TreeEntry] = []
    for field in fields.dropFirst(2) {
        let link = field.firstIndex(of: 1)
        let path = Array(field[..<(link ?? field.endIndex)])
        if let link { facts.linkTargets[path] = Array(field[(link + 1)...]) }
        paths.append(path)
        entries.append(TreeEntry(path: path, kind: link == nil ? .file : .link, size: UInt64(field.count), digest: SHA256.hash(field)))
    }

    facts.gitattributes[Array(".gitattributes".utf8)] = pattern + Array(" ident\n".utf8) + extra
    var known = Set(paths.map(Escaping.escape))
    let attributesFile = Escaping.escape(Array(".gitattributes".utf8))
    for path in paths {
        var prefix = path[...]
        while let slash = prefix.lastIndex(of: UInt8(ascii: "/")) {
            prefix = prefix[..<slash]
            known.insert(Escaping.escape(Array(prefix)))
        }
    }
    let findings = scanTree(entries, facts: facts)
    for finding in findings {
        try require(known.contains(finding.path) || finding.path == attributesFile, "a finding names '\(finding.path)', which is not in the tree")
        for path in finding.paths {
            try require(known.contains(path), "a finding about '\(finding.path)' lists '\(path)', which is not in the tree")
        }
    }
    for (path, target) in facts.linkTargets where target.first == UInt8(ascii: "/") {
        try require(findings.contains { $0.rule == "symlink-absolute" && $0.path == Escaping.escape(path) },
                    "the symlink '\(Escaping.escape(path))' to an absolute path is not reported")
    }

    // The pattern alone, with one attribute that is always reported.
    var probe = TreeFacts()
    probe.gitattributes[Array(".gitattributes".utf8)] = pattern + Array(" ident\n".utf8)
    // A tree read as files: every path the line names is listed, whatever its content.
    let matched = Set(scanTree(entries, facts: probe).filter { $0.rule == "gitattributes-filter" }.flatMap(\.paths))
    for entry in entries where entry.kind == .file && pathProblem(entry.path) == nil {
        let path = entry.path
        guard let expected = simplePatternMatches(pattern, path) else { break }
        try require(matched.contains(Escaping.escape(path)) == expected,
                    "the pattern '\(Escaping.escape(pattern))' \(expected ? "does not match" : "matches") '\(Escaping.escape(path))'")
    }
    return paths.isEmpty ? .rejected : .checked
}

/// Whether `pattern` matches `path` for the simple patterns whose meaning is not in doubt, or
/// nil for any other pattern.
private func simplePatternMatches(_ pattern: [UInt8], _ path: [UInt8]) -> Bool? {
    let special: Set<UInt8> = Set("*?[]\\!#".utf8)
    let literal: (ArraySlice<UInt8>) -> Bool = { part in part.allSatisfy { (0x21...0x7E).contains($0) && !special.contains($0) } }
    guard let first = pattern.first, first != UInt8(ascii: "!"), first != UInt8(ascii: "#") else { return nil }
    let name = Array(path.split(separator: UInt8(ascii: "/")).last ?? [])
    if literal(pattern[...]) {
        guard pattern.contains(UInt8(ascii: "/")) else { return name == pattern }
        // With a slash the pattern is the path from the attributes file; a leading one only anchors.
        return Array(pattern.first == UInt8(ascii: "/") ? pattern.dropFirst() : pattern[...]) == path
    }
    guard !pattern.contains(UInt8(ascii: "/")) else { return nil }
    if pattern.first == UInt8(ascii: "*"), literal(pattern.dropFirst()) { return name.ends(with: pattern.dropFirst()) }
    if pattern.last == UInt8(ascii: "*"), literal(pattern.dropLast()) { return name.starts(with: pattern.dropLast()) }
    return nil
}

extension Array where Element == UInt8 {
    func ends(with suffix: ArraySlice<UInt8>) -> Bool { count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix) }
}

/// The content scanner. Input: a flag byte (kind, strict, line limit), a byte for the
/// large-binary limit, the path, NUL, the content. Every finding names the path it was given,
/// a rule that exists, and a line and column inside the content.
func checkScanContent(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    var reader = InputReader(input)
    let flags = reader.byte(), large = reader.byte()
    let path = reader.field(), content = reader.rest()
    var options = ScanOptions()
    options.strict = flags & 4 != 0
    options.longLineBytes = 1 + Int(flags >> 3) * 40
    options.largeBinaryBytes = UInt64(large) * 16
    let kind = EntryKind.allCases[Int(flags & 3)]
    let findings = scanContent(path: path, kind: kind, size: UInt64(content.count), content: content, options: options)
    let escaped = Escaping.escape(path)
    let lines = content.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    for finding in findings {
        try require(finding.path == escaped, "a finding names '\(finding.path)', not the path scanned")
        try require(ScanRules.all.contains { $0.id == finding.rule }, "a finding's rule '\(finding.rule)' is not a scan rule")
        if let line = finding.line { try require((1...lines).contains(line), "line \(line) is outside the \(lines) lines") }
        if let column = finding.column { try require(column >= 1 && column <= content.count + 1, "column \(column) is outside the content") }
    }
    return .checked
}

/// Escaping: every byte string escapes to printable UTF-8 with no control character and no
/// space at either end, and unescapes back to itself; an escaped form that unescapes is the
/// one escaped form of what it stands for.
func checkEscaping(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    let escaped = Escaping.escape(input)
    var appended: [UInt8] = [0x41]
    Escaping.append(input, to: &appended)
    try require(Array(escaped.utf8) == Array(appended.dropFirst()), "append and escape disagree")
    try require(Escaping.unescape(Array(escaped.utf8)) == input, "unescape(escape(x)) is not x")
    try require(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
                "the escaped form holds a control character")
    try require(escaped.utf8.first != 0x20 && escaped.utf8.last != 0x20, "the escaped form starts or ends with a space")
    if let raw = Escaping.unescape(input) {
        try require(Array(Escaping.escape(raw).utf8) == input, "an accepted escaped form is not canonical")
    }
    if !input.isEmpty {
        // A slice that does not start at index 0 reads like the array it holds.
        try require(Escaping.unescape(input[1...]) == Escaping.unescape(Array(input[1...])), "unescaping a slice differs")
    }
    return .checked
}

/// The tree comparison. Input: records of a flag byte and a NUL-ended path, giving each path
/// to the expected list, the actual list or both, with kinds and contents from the flags. A
/// list compared with itself has no differences, and the differences of two lists are exactly
/// those a plain per-path reference gives, in path order.
func checkTreeComparison(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    var reader = InputReader(input)
    var expected: [[UInt8]: TreeEntry] = [:], actual: [[UInt8]: TreeEntry] = [:]
    while !reader.isEmpty {
        let flags = reader.byte(), path = reader.field()
        let kinds = EntryKind.allCases
        let mine = TreeEntry(path: path, kind: kinds[Int(flags >> 2 & 3)], size: UInt64(path.count), digest: SHA256.hash(path))
        var theirs = TreeEntry(path: path, kind: kinds[Int(flags >> 4 & 3)], size: mine.size, digest: mine.digest)
        if flags & 0x40 != 0 { theirs.size += 1 }
        if flags & 0x80 != 0 { theirs.digest = Array(theirs.digest.prefix(20)) }
        if flags & 1 != 0, expected[path] == nil { expected[path] = mine }
        if flags & 2 != 0, actual[path] == nil { actual[path] = theirs }
    }
    let sortedExpected = expected.values.sorted { $0.path.lexicographicallyPrecedes($1.path) }
    let sortedActual = actual.values.sorted { $0.path.lexicographicallyPrecedes($1.path) }
    try require(compare(expected: sortedExpected, actual: sortedExpected).isEmpty, "a tree differs from itself")
    try require(compare(expected: sortedActual, actual: sortedActual).isEmpty, "a tree differs from itself")

    let differences = compare(expected: sortedExpected, actual: sortedActual)
    for (a, b) in zip(differences, differences.dropFirst()) {
        try require(!b.path.lexicographicallyPrecedes(a.path), "the differences are not in path order")
    }
    var byPath: [[UInt8]: [Difference.Kind]] = [:]
    for difference in differences {
        try require(expected[difference.path] != nil || actual[difference.path] != nil,
                    "a difference names '\(Escaping.escape(difference.path))', which is in neither list")
        try require(difference.listed == expected[difference.path] && difference.found == actual[difference.path],
                    "a difference carries other entries than the lists hold")
        byPath[difference.path, default: []].append(difference.kind)
    }
    for path in Set(expected.keys).union(actual.keys) {
        let want = referenceDifferences(expected[path], actual[path])
        try require((byPath[path] ?? []) == want,
                    "'\(Escaping.escape(path))': \(byPath[path] ?? []) instead of \(want)")
    }
    return expected.isEmpty && actual.isEmpty ? .rejected : .checked
}

/// The differences one path gives, decided case by case.
private func referenceDifferences(_ e: TreeEntry?, _ a: TreeEntry?) -> [Difference.Kind] {
    guard let e else { return a == nil ? [] : [.extra] }
    guard let a else { return [.missing] }
    let sameContent = e.size == a.size && e.digest == a.digest
    if e.kind != a.kind {
        guard e.kind.isRegularFile && a.kind.isRegularFile else { return [.kindChanged] }
        return sameContent ? [.modeChanged] : [.modeChanged, .modified]
    }
    if sameContent { return [] }
    switch e.kind {
    case .file, .exec: return [.modified]
    case .link: return [.retargeted]
    case .submodule: return [.submoduleMoved]
    }
}

/// Merkle proofs over a tree of input-derived size and leaves: the root equals a plain recursive
/// RFC 6962 root; an honest inclusion or consistency proof verifies; changing one bit of a proof
/// hash, the leaf or the root, or dropping or adding a hash, makes it fail; and proofs with
/// sizes and indices anywhere in the 64-bit range end in a verdict, not a crash.
func checkMerkleProofs(_ input: [UInt8]) throws -> FuzzTarget.Outcome {
    var reader = InputReader(input)
    let size = 1 + Int(reader.byte() % 80), index = Int(reader.byte()) % size, size1 = 1 + Int(reader.byte()) % size
    let leaves = (0..<size).map { Merkle.leafHash([UInt8(truncatingIfNeeded: $0)] + input.prefix(8)) }
    let root = Merkle.root(leafHashes: leaves)
    try require(root == referenceRoot(leaves[...]), "the root differs from the recursive reference")

    let bit = choice(input)
    func flipped(_ hash: [UInt8]) -> [UInt8] {
        var out = hash
        out[Int((bit >> 3) % 32)] ^= UInt8(1) << (bit & 7)
        return out
    }
    let proof = Merkle.inclusionProof(index: index, leafHashes: leaves)
    func included(_ leaf: [UInt8], _ proof: [[UInt8]], _ root: [UInt8], at i: Int = index) -> Bool {
        (try? Merkle.verifyInclusion(index: UInt64(i), size: UInt64(size), leafHash: leaf, proof: proof, root: root)) != nil
    }
    try require(included(leaves[index], proof, root), "an honest inclusion proof fails")
    try require(!included(flipped(leaves[index]), proof, root), "an inclusion proof holds for a changed leaf")
    try require(!included(leaves[index], proof, flipped(root)), "an inclusion proof holds for a changed root")
    try require(!included(leaves[index], proof + [root], root), "an inclusion proof holds with a hash added")
    if !proof.isEmpty {
        let at = Int(bit % UInt64(proof.count))
        var changed = proof
        changed[at] = flipped(changed[at])
        try require(!included(leaves[index], changed, root), "an inclusion proof holds with hash \(at) changed")
        try require(!included(leaves[index], Array(proof.dropLast()), root), "an inclusion proof holds with a hash dropped")
        let other = (index + 1 + Int(bit % UInt64(size - 1))) % size   // proof is not empty, so size > 1
        try require(!included(leaves[index], proof, root, at: other), "an inclusion proof holds at index \(other)")
    }

    let root1 = Merkle.root(leafHashes: Array(leaves[..<size1]))
    let consistency = Merkle.consistencyProof(size1: size1, leafHashes: leaves)
    func consistent(_ proof: [[UInt8]], _ root1: [UInt8], _ root2: [UInt8]) -> Bool {
        (try? Merkle.verifyConsistency(size1: UInt64(size1), size2: UInt64(size), proof: proof, root1: root1, root2: root2)) != nil
    }
    try require(consistent(consistency, root1, root), "an honest consistency proof fails")
    try require(!consistent(consistency, flipped(root1), root), "a consistency proof holds for a changed old root")
    try require(!consistent(consistency, root1, flipped(root)), "a consistency proof holds for a changed new root")
    try require(!consistent(consistency + [root], root1, root), "a consistency proof holds with a hash added")
    if !consistency.isEmpty {
        let at = Int(bit % UInt64(consistency.count))
        var changed = consistency
        changed[at] = flipped(changed[at])
        try require(!consistent(changed, root1, root), "a consistency proof holds with hash \(at) changed")
        try require(!consistent(Array(consistency.dropLast()), root1, root), "a consistency proof holds with a hash dropped")
    }

    // Any sizes and indices, any hashes: a verdict, never a trap.
    let wildIndex = reader.number(bytes: 8), wildSize = reader.number(bytes: 8), wildSize2 = reader.number(bytes: 8)
    var hashes: [[UInt8]] = []
    while !reader.isEmpty && hashes.count < 70 {
        let length = reader.byte() % 4 == 0 ? Int(reader.byte() % 40) : 32
        hashes.append((0..<length).map { _ in reader.byte() })
    }
    _ = try? Merkle.verifyInclusion(index: wildIndex, size: wildSize, leafHash: leaves[0], proof: hashes, root: root)
    _ = try? Merkle.rootFromInclusionProof(index: wildIndex, size: wildSize, leafHash: hashes.first ?? [], proof: hashes)
    _ = try? Merkle.verifyConsistency(size1: wildSize, size2: wildSize2, proof: hashes, root1: root1, root2: root)
    _ = try? Merkle.verifyConsistency(size1: wildSize, size2: wildSize2, proof: hashes, root1: hashes.first ?? [], root2: hashes.last ?? [])
    return .checked
}

/// RFC 6962 §2.1 MTH, written as the definition reads.
private func referenceRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
    if leaves.isEmpty { return SHA256.hash([UInt8]()) }
    if leaves.count == 1 { return leaves.first! }
    var k = 1
    while k * 2 < leaves.count { k *= 2 }
    let middle = leaves.startIndex + k
    return Merkle.nodeHash(referenceRoot(leaves[..<middle]), referenceRoot(leaves[middle...]))
}

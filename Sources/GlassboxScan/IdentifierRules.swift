import Foundation

// MARK: - Identifiers (UTS #39)

/// UTS #39 augments a few scripts so that Japanese and Korean text is not "mixed".
private let augmented: [String: [String]] = [
    "Hani": ["Hanb", "Jpan", "Kore"], "Hira": ["Jpan"], "Kana": ["Jpan"], "Hang": ["Kore"], "Bopo": ["Hanb"],
]

/// The UTS #39 resolved script set of an identifier: empty means mixed-script. Common and
/// Inherited characters fit any script.
func resolvedScripts(_ text: String) -> Set<String>? {
    var resolved: Set<String>?
    for scalar in text.unicodeScalars {
        var set = Set(UnicodeTables.scriptExtensionCodes(scalar.value))
        if set.contains("Zyyy") || set.contains("Zinh") { continue }
        for code in set { set.formUnion(augmented[code] ?? []) }
        resolved = resolved.map { $0.intersection(set) } ?? set
    }
    return resolved
}

/// The UTS #39 skeleton: NFD, every character replaced by its prototype, NFD again.
func skeleton(_ text: String) -> String {
    var mapped = String.UnicodeScalarView()
    for scalar in text.decomposedStringWithCanonicalMapping.unicodeScalars {
        if let prototype = UnicodeTables.confusablePrototype(scalar.value) {
            mapped.append(contentsOf: prototype.compactMap(Unicode.Scalar.init))
        } else {
            mapped.append(scalar)
        }
    }
    return String(mapped).decomposedStringWithCanonicalMapping
}

/// The identifier rules over one file's identifiers (each with where it first appears):
/// - `identifier-normalization`: two identifiers are the same text in different Unicode normal
///   forms (NFC `é` and NFD `e` + U+0301). C, JavaScript and Go see two names; a reader sees one.
/// - `confusable-identifiers`: two identifiers look alike (equal UTS #39 skeletons) but are not
///   canonically equivalent.
/// - `mixed-script-identifier`: one identifier mixes scripts; not reported for an identifier
///   already reported as a look-alike, so each identifier gets one finding.
/// Identifiers holding an invisible character are left out: that character is already an error
/// at its own column.
func identifierFindings(path: [UInt8], _ identifiers: [[UInt8]: (line: Int, column: Int)]) -> [ScanFinding] {
    // Identifiers are compared as bytes: Swift's String equality is canonical equivalence, which
    // would make the two spellings of one name a single identifier.
    var findings: [ScanFinding] = []
    // Every rule needs a character outside ASCII in some identifier.
    guard identifiers.keys.contains(where: { $0.contains { $0 >= 0x80 } }) else { return [] }
    func text(_ id: [UInt8]) -> String { String(decoding: id, as: UTF8.self) }
    func nonASCII(_ id: [UInt8]) -> [String] {
        text(id).unicodeScalars.filter { $0.value > 0x7F }.map { describeCodePoint($0.value) }
    }
    func place(_ id: [UInt8]) -> (line: Int, column: Int) { identifiers[id]! }
    func quoted(_ ids: [[UInt8]]) -> String { ids.map { "'\(text($0))'" }.joined(separator: ", ") }
    func normalForm(_ id: [UInt8]) -> [UInt8] { Array(text(id).precomposedStringWithCanonicalMapping.utf8) }
    let sorted = identifiers.keys.sorted { $0.lexicographicallyPrecedes($1) }
    var bySkeleton: [[UInt8]: [[UInt8]]] = [:]
    for id in sorted {
        guard !text(id).unicodeScalars.contains(where: { UnicodeTables.isDefaultIgnorable($0.value) }) else { continue }
        bySkeleton[Array(skeleton(text(id)).utf8), default: []].append(id)
    }
    var reported = Set<[UInt8]>()
    for (_, group) in bySkeleton.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where group.count > 1 {
        // All-ASCII look-alikes (l and 1, rn and m) are ordinary code; an attack needs a
        // character from outside ASCII.
        guard group.contains(where: { $0.contains { $0 >= 0x80 } }) else { continue }
        let byForm = Dictionary(grouping: group, by: normalForm)
        for id in group where id.contains(where: { $0 >= 0x80 }) {
            // Of two spellings of one name, the later one is the finding (it names the earlier).
            let spellings = byForm[normalForm(id)]!
            let first = spellings.min { (place($0).line, place($0).column) < (place($1).line, place($1).column) }!
            let same = id == first ? [] : spellings.filter { $0 != id }
            let alike = group.filter { !spellings.contains($0) }
            if !same.isEmpty {
                findings.append(ScanFinding("identifier-normalization", .error, path: path, line: place(id).line, column: place(id).column,
                                            codePoints: nonASCII(id),
                                            "identifier '\(text(id))' is \(quoted(same)) in another Unicode normal form: a compiler sees two names"))
                reported.insert(id)
            }
            if !alike.isEmpty {
                // A single letter from another script (Cyrillic С beside Latin C) is far more
                // often a word of text in a test or a table than a hidden variable: a human
                // must look, but it does not fail the scan.
                let single = text(id).unicodeScalars.count == 1
                findings.append(ScanFinding("confusable-identifiers", single ? .warning : .error, path: path, line: place(id).line, column: place(id).column,
                                            codePoints: nonASCII(id), "identifier '\(text(id))' looks like \(quoted(alike)) in the same file"
                                            + (single ? " (a single letter: text or a variable?)" : "")))
                reported.insert(id)
            }
        }
    }
    for id in sorted where !reported.contains(id) && id.contains(where: { $0 >= 0x80 }) {
        guard let scripts = resolvedScripts(text(id)), scripts.isEmpty else { continue }
        let names = Set(text(id).unicodeScalars.flatMap { UnicodeTables.scriptExtensions($0.value) })
            .subtracting(["Common", "Inherited"]).sorted()
        findings.append(ScanFinding("mixed-script-identifier", .warning, path: path, line: place(id).line, column: place(id).column,
                                    codePoints: nonASCII(id), "identifier '\(text(id))' mixes scripts: \(names.joined(separator: ", "))"))
    }
    return findings
}

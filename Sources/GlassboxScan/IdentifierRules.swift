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

func identifierFindings(path: [UInt8], _ identifiers: [String: (line: Int, column: Int)]) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    // Both rules need a character outside ASCII in some identifier.
    guard identifiers.keys.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) else { return [] }
    var bySkeleton: [String: [String]] = [:]
    for (text, place) in identifiers.sorted(by: { $0.key < $1.key }) {
        if text.utf8.contains(where: { $0 >= 0x80 }), let scripts = resolvedScripts(text), scripts.isEmpty {
            let codes = Set(text.unicodeScalars.flatMap { UnicodeTables.scriptExtensions($0.value) })
                .subtracting(["Common", "Inherited"]).sorted()
            findings.append(ScanFinding("mixed-script-identifier", .warning, path: path, line: place.line, column: place.column,
                                        codePoints: text.unicodeScalars.filter { $0.value > 0x7F }.map { describeCodePoint($0.value) },
                                        "identifier '\(text)' mixes scripts: \(codes.joined(separator: ", "))"))
        }
        bySkeleton[skeleton(text), default: []].append(text)
    }
    for (_, group) in bySkeleton.sorted(by: { $0.key < $1.key }) where group.count > 1 {
        // All-ASCII look-alikes (l and 1, rn and m) are ordinary code; a homoglyph attack needs a
        // character from outside ASCII.
        guard group.contains(where: { $0.unicodeScalars.contains { $0.value > 0x7F } }) else { continue }
        for text in group where text.unicodeScalars.contains(where: { $0.value > 0x7F }) {
            let place = identifiers[text]!
            let others = group.filter { $0 != text }.map { "'\($0)'" }.joined(separator: ", ")
            findings.append(ScanFinding("confusable-identifiers", .error, path: path, line: place.line, column: place.column,
                                        codePoints: text.unicodeScalars.filter { $0.value > 0x7F }.map { describeCodePoint($0.value) },
                                        "identifier '\(text)' looks like \(others) in the same file"))
        }
    }
    return findings
}


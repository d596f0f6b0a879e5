import GlassboxScan
import GlassboxCrypto
import GlassboxGit

/// Why a tree may differ from a manifest of git objects only as `git archive` (or a checkout)
/// makes it differ: line endings (`eol`, `text`, `crlf`), `ident`, `export-subst`,
/// `export-ignore`, a gitlink written as an empty directory. Each explanation names the
/// attributes line. The differences stay failures — the bytes are not the signed ones — but
/// they are no longer a mystery.
///
/// Only attributes files that match the manifest are read: a changed `.gitattributes` explains
/// nothing.
public struct AttributeExplainer {
    /// The attributes lines that apply to a path, in the order git applies them.
    private struct Rule {
        let file: [UInt8]
        let line: Int
        let pattern: AttributePattern
        /// The same pattern for a directory: a trailing slash (directories only) dropped.
        let directoryPattern: AttributePattern?
        let shownPattern: String
        let attributes: [String]
    }

    private var rules: [Rule] = []

    /// `attributeFiles`: the contents of the tree's `.gitattributes` files that match the
    /// manifest, by path.
    public init(attributeFiles: [[UInt8]: [UInt8]]) {
        var macros: [String: [String]] = [:]
        for raw in (attributeFiles[Array(".gitattributes".utf8)] ?? []).split(separator: 0x0A) {
            if let line = AttributeLine(raw), let name = line.macro { macros[name] = line.attributes }
        }
        // Shallower files first: a deeper file's lines override them, as in git.
        func depth(_ path: [UInt8]) -> Int { path.filter { $0 == UInt8(ascii: "/") }.count }
        let files = attributeFiles.keys.sorted { depth($0) != depth($1) ? depth($0) < depth($1) : $0.lexicographicallyPrecedes($1) }
        for file in files {
            let lines = attributeFiles[file]!.split(separator: 0x0A, omittingEmptySubsequences: false)
            for (index, raw) in lines.enumerated() {
                guard let line = AttributeLine(raw), line.macro == nil, let pattern = AttributePattern(line.pattern) else { continue }
                let forDirectory = line.pattern.last == UInt8(ascii: "/") ? AttributePattern(Array(line.pattern.dropLast())) : pattern
                rules.append(Rule(file: file, line: index + 1, pattern: pattern, directoryPattern: forDirectory, shownPattern: line.shownPattern,
                                  attributes: expandMacros(line.attributes, macros).map(\.attribute)))
            }
        }
    }

    /// Each attribute's final state for `path` (`set`, `unset` as "-", or its value) and the line
    /// that decided it, written `FILE:LINE PATTERN ATTRIBUTE`.
    func attributes(of path: [UInt8]) -> [String: (state: String, source: String)] {
        var out: [String: (state: String, source: String)] = [:]
        for rule in rules {
            let directory = Array(rule.file.split(separator: UInt8(ascii: "/")).dropLast().joined(separator: [UInt8(ascii: "/")]))
            let prefix = directory.isEmpty ? [] : directory + [UInt8(ascii: "/")]
            // A pattern applies to the path itself or, for export-ignore, to a directory above it.
            var candidates = [path]
            var cut = path
            while let slash = cut.lastIndex(of: UInt8(ascii: "/")) {
                cut = Array(cut[..<slash])
                candidates.append(cut)
            }
            for (depth, candidate) in candidates.enumerated() where candidate.starts(with: prefix) && candidate.count > prefix.count {
                var steps = 1 << 20
                guard let pattern = depth == 0 ? rule.pattern : rule.directoryPattern,
                      pattern.matches(candidate[prefix.count...], steps: &steps) else { continue }
                for attribute in rule.attributes {
                    let parts = attribute.split(separator: "=", maxSplits: 1).map(String.init)
                    var name = parts[0]
                    var state = parts.count == 2 ? parts[1] : "set"
                    if name.hasPrefix("-") { name.removeFirst(); state = "-" }
                    if name.hasPrefix("!") { name.removeFirst(); state = "unspecified" }
                    // Only export-ignore reaches down from a matching directory.
                    if depth > 0 && name != "export-ignore" { continue }
                    out[name] = (state, "\(Escaping.escape(rule.file)):\(rule.line) \(rule.shownPattern) \(attribute)")
                }
                break
            }
        }
        return out.filter { $0.value.state != "unspecified" }
    }

    /// Why `found` (a file's bytes) may differ from the listed entry, or nil. Confirmed when
    /// undoing the attributes' conversion gives exactly the listed bytes.
    public func explainModified(path: [UInt8], listed: TreeEntry, found content: [UInt8]) -> String? {
        let attributes = attributes(of: path)
        var sources: [String] = []
        var restored = content
        let eol = attributes["eol"]
        let crlf = eol?.state == "crlf" || attributes["crlf"]?.state == "set"
        if crlf, attributes["text"]?.state != "-", attributes["binary"] == nil {
            restored = removingCarriageReturns(restored)
            sources.append(eol?.source ?? attributes["crlf"]!.source)
        }
        if let ident = attributes["ident"], ident.state == "set" {
            restored = collapsingIdent(restored)
            sources.append(ident.source)
        }
        if !sources.isEmpty, UInt64(restored.count) == listed.size, constantTimeEquals(SHA256.hash(restored), listed.digest) {
            return "explained: the bytes are the signed ones as \(sources.joined(separator: " and ")) makes git archive or a checkout write them"
        }
        if let subst = attributes["export-subst"], subst.state == "set" {
            return "possibly explained: \(subst.source) makes git archive expand $Format:…$ placeholders in this file"
        }
        return nil
    }

    /// Why a listed path may be absent, or nil.
    public func explainMissing(path: [UInt8]) -> String? {
        guard let ignore = attributes(of: path)["export-ignore"], ignore.state == "set" else { return nil }
        return "explained: \(ignore.source) makes git archive leave it out"
    }
}

/// LF for every CRLF (what undoes `eol=crlf`).
private func removingCarriageReturns(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if bytes[i] == 0x0D, i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1; continue }
        out.append(bytes[i])
        i += 1
    }
    return out
}

/// `$Id$` for every `$Id: <40 hex> $` (what undoes `ident`).
private func collapsingIdent(_ bytes: [UInt8]) -> [UInt8] {
    let open = Array("$Id: ".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "$"), bytes[i...].starts(with: open), i + 5 + 40 + 2 <= bytes.count,
           bytes[(i + 5)..<(i + 45)].allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
           bytes[i + 45] == 0x20, bytes[i + 46] == UInt8(ascii: "$") {
            out += Array("$Id$".utf8)
            i += 47
            continue
        }
        out.append(bytes[i])
        i += 1
    }
    return out
}

/// Keeps the whole content of a few named files as a reader streams a tree past it; a file
/// longer than `limit` is not kept.
final class ContentGatherer: @unchecked Sendable {
    private let wanted: Set<[UInt8]>
    fileprivate let limit: Int
    private(set) var contents: [[UInt8]: [UInt8]] = [:]

    init(_ wanted: Set<[UInt8]>, limit: Int) {
        self.wanted = wanted
        self.limit = limit
    }

    func sink(for visit: ContentVisit) -> (any ContentSink)? {
        guard visit.kind.isRegularFile, wanted.contains(visit.path) else { return nil }
        return Sink(visit.path, self)
    }

    private final class Sink: ContentSink {
        let path: [UInt8]
        let owner: ContentGatherer
        var bytes: [UInt8] = []
        init(_ path: [UInt8], _ owner: ContentGatherer) {
            self.path = path
            self.owner = owner
        }
        var tooLong = false
        func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
            guard bytes.count + chunk.count <= owner.limit else { tooLong = true; return false }
            bytes.append(contentsOf: chunk)
            return true
        }
        func finish() { if !tooLong { owner.contents[path] = bytes } }
    }
}

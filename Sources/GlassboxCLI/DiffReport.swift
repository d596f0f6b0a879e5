import Foundation
import GlassboxScan
import Glassbox
import GlassboxReview
import GlassboxGit

/// What `glassbox diff` prints: text, JSON, or one offline HTML file.
struct DiffReport: Encodable {
    static let mediaType = "application/vnd.glassbox.diff.v1+json"

    struct SideInfo: Encodable {
        var label: String
        var origin: String?
        var trusted: Bool?
        var trust: String?
    }

    struct EntryInfo: Encodable {
        var kind: String
        var size: UInt64?
        var sha256: String?
        var commit: String?
        init(_ e: TreeEntry) {
            kind = e.kind.rawValue
            if e.kind == .submodule { commit = hex(e.digest) } else { size = e.size; sha256 = hex(e.digest) }
        }
    }

    struct ContentItem: Encodable {
        var diff: String?
        var note: String?
        init(diff: String? = nil, note: String? = nil) {
            self.diff = diff
            self.note = note
        }
    }

    struct Item: Encodable {
        var kind: String
        var path: String
        var oldPath: String?
        var old: EntryInfo?
        var new: EntryInfo?
        var content: ContentItem?
    }

    struct DirectoryCount: Encodable {
        var directory: String
        var changes: Int
    }

    var mediaType = DiffReport.mediaType
    /// The version of the tools that wrote it, as `--version` prints it.
    var toolVersion = GlassboxVersion.string
    var identical: Bool
    var old: SideInfo
    var new: SideInfo
    var summary: [String: Int]
    var directories: [DirectoryCount]
    var changes: [Item]
    /// Scan findings the new side brings, in change order.
    var scanFindings: [ScanReport.Item]
    /// Why the scan did not run, or what limits it.
    var scanNote: String?
    /// The new side's text of lines with a finding, by path and line, for the HTML page to show
    /// where the diff does not (a file that is new, a line outside the diff's context).
    var excerpts: [String: [Int: String]] = [:]

    private enum CodingKeys: String, CodingKey {
        case mediaType, toolVersion, identical, old, new, summary, directories, changes, scanFindings, scanNote
    }

    init(old: DiffCommand.Side, new: DiffCommand.Side, changes: [Change], contents: [[UInt8]: ContentItem],
         findings: [ScanFinding] = [], scanNote: String? = nil, excerpts: [[UInt8]: [Int: String]] = [:]) {
        func info(_ side: DiffCommand.Side) -> SideInfo {
            SideInfo(label: side.label, origin: side.header?.origin, trusted: side.trusted, trust: side.trustNote)
        }
        self.old = info(old)
        self.new = info(new)
        identical = changes.isEmpty
        let summary = DiffSummary(changes)
        self.summary = Dictionary(uniqueKeysWithValues: Change.Kind.allCases.map { ($0.rawValue, summary.byKind[$0] ?? 0) })
        directories = summary.byDirectory.map { DirectoryCount(directory: $0.directory, changes: $0.count) }
        self.changes = changes.map { c in
            Item(kind: c.kind.rawValue, path: shown(c.path), oldPath: c.oldPath.map(shown),
                 old: c.old.map(EntryInfo.init), new: c.new.map(EntryInfo.init),
                 content: c.kind == .modified ? contents[c.path] : nil)
        }
        scanFindings = findings.map(ScanReport.Item.init)
        self.scanNote = scanNote
        for (path, lines) in excerpts { self.excerpts[shown(path)] = lines }
    }

    private static let marks: [String: String] = [
        "added": "A", "removed": "D", "modified": "M", "renamed": "R", "kind-changed": "T",
        "mode-changed": "X", "retargeted": "L", "submodule-moved": "S",
    ]

    // MARK: Text

    func text(colour: Bool) -> String {
        // Every piece from input is made safe before colour codes of our own are put around it.
        func paint(_ s: String, _ code: String) -> String {
            colour ? "\u{1B}[\(code)m\(Display.text(s))\u{1B}[0m" : Display.text(s)
        }
        func safe(_ s: String) -> String { Display.text(s) }
        // Lines of content and messages quoting it: hidden characters and look-alike letters
        // become ⟨U+XXXX⟩, in reverse video when there is colour.
        func visible(_ s: Substring, _ code: String? = nil) -> String {
            guard colour else { return VisibleText.plain(s) }
            let base = code.map { "\u{1B}[\($0)m" } ?? ""
            return base + VisibleText.plain(s) { "\u{1B}[7m\($0)\u{1B}[27m" } + (code == nil ? "" : "\u{1B}[0m")
        }
        var lines: [String] = []
        lines.append("glassbox: diff: " + (identical ? "identical" : counting(changes.count, "change")))
        for (name, side) in [("old", old), ("new", new)] {
            var line = "\(name)  \(side.label)"
            if let trusted = side.trusted { line += trusted ? " — trusted: \(side.trust ?? "")" : " — NOT trusted: \(side.trust ?? "")" }
            lines.append(safe(line))
        }
        if !identical {
            lines.append("")
            let counts = Change.Kind.allCases.compactMap { kind -> String? in
                let n = summary[kind.rawValue] ?? 0
                return n == 0 ? nil : "\(kind.rawValue) \(n)"
            }
            lines.append("summary      " + counts.joined(separator: ", "))
            lines.append(safe("directories  " + directories.map { "\($0.directory) \($0.changes)" }.joined(separator: ", ")))
            lines.append("")
            for c in changes {
                let code = c.kind == "added" ? "32" : c.kind == "removed" ? "31" : "33"
                var line = "  " + paint("\(DiffReport.marks[c.kind] ?? "?") \(c.kind)", code) + "  "
                line += safe(c.oldPath.map { "\($0) → \(c.path)" } ?? c.path)
                line += "  " + safe(describe(c))
                lines.append(line)
            }
            if !scanFindings.isEmpty || scanNote != nil {
                lines.append("")
                lines.append(paint("new scan findings  \(scanFindings.count)", "1"))
                if let scanNote { lines.append(safe("(\(scanNote))")) }
                for f in scanFindings {
                    let place = f.line.map { ":\($0)" + (f.column.map { ":\($0)" } ?? "") } ?? ""
                    let points = f.codePoints.isEmpty ? "" : "  [\(f.codePoints.joined(separator: ", "))]"
                    lines.append("  " + paint(f.severity, f.severity == "error" ? "31" : "33") + "  "
                                 + visible(Substring("\(f.rule)  \(f.path)\(place)  \(f.message)\(points)")))
                }
            }
            for c in changes where c.content != nil {
                lines.append("")
                lines.append(paint("--- content: \(c.path)", "1"))
                if let note = c.content?.note { lines.append(safe("(\(note))")) }
                if let diff = c.content?.diff {
                    for l in diff.split(separator: "\n", omittingEmptySubsequences: false) {
                        lines.append(l.hasPrefix("+") && !l.hasPrefix("+++") ? visible(l, "32")
                                     : l.hasPrefix("-") && !l.hasPrefix("---") ? visible(l, "31") : visible(l))
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func describe(_ c: Item) -> String {
        func side(_ e: EntryInfo?) -> String {
            guard let e else { return "—" }
            if let commit = e.commit { return "submodule \(commit.prefix(12))" }
            return "\(e.kind) \(e.size ?? 0) B \(e.sha256?.prefix(12) ?? "")"
        }
        switch c.kind {
        case "added": return "[\(side(c.new))]"
        case "removed": return "[\(side(c.old))]"
        default: return "[\(side(c.old)) → \(side(c.new))]"
        }
    }

    // MARK: HTML

    /// One self-contained page (see `htmlPageStart`).
    func html() -> String {
        var out = htmlPageStart(title: "Glassbox diff", style: """
            h1{font-size:1.4em}td,th{padding:.2em .8em}
            pre{background:#f6f8fa;padding:.8em;overflow-x:auto}
            details{margin-left:1.2em}summary{cursor:pointer}
            .changed>summary{font-weight:600;color:#8a4600}
            .count{color:#57606a;font-weight:normal}
            .k{display:inline-block;min-width:10.5em;font-family:ui-monospace,monospace}
            .added{color:#116329}.removed{color:#a40e26}.modified,.renamed,.kind-changed,.mode-changed,.retargeted,.submodule-moved{color:#8a4600}
            .ins{color:#116329}.del{color:#a40e26}.hunk{color:#0550ae}
            .trusted{color:#116329}.untrusted{color:#a40e26;font-weight:600}
            ul{list-style:none;padding-left:1.2em;margin:.2em 0}
            .hid.bidi{background:#ff8182;border-color:#a40e26}
            .flagged{background:#fff1c2;outline:2px solid #d4a72c}
            .flag{color:#a40e26;font-weight:600;text-decoration:none}
            .findings li{margin:.2em 0}.sev{display:inline-block;min-width:4.5em;font-weight:600}
            .sev.error{color:#a40e26}.sev.warning{color:#8a4600}.sev.note{color:#57606a}
            :target{scroll-margin-top:2em}li:target{background:#fff1c2}
            """)
        out += "<h1>Glassbox diff: \(identical ? "identical" : counting(changes.count, "change"))</h1>\n"
        out += "<table>\n"
        for (name, side) in [("old", old), ("new", new)] {
            out += "<tr><th>\(name)</th><td>\(visibleHTML(side.label))</td><td>"
            if let trusted = side.trusted {
                out += "<span class=\"\(trusted ? "trusted" : "untrusted")\">\(trusted ? "trusted" : "NOT trusted"): \(visibleHTML(side.trust ?? ""))</span>"
            }
            out += "</td></tr>\n"
        }
        out += "</table>\n<h2>Summary</h2>\n<table>\n"
        for kind in Change.Kind.allCases where (summary[kind.rawValue] ?? 0) > 0 {
            out += "<tr><td class=\"\(kind.rawValue)\">\(kind.rawValue)</td><td>\(summary[kind.rawValue]!)</td></tr>\n"
        }
        out += "</table>\n"
        // Anchors are numbers, never paths: a path from input never reaches an attribute.
        let findingsByPath = Dictionary(grouping: scanFindings.indices, by: { scanFindings[$0].path })
        let shownFiles = changes.indices.filter { changes[$0].content != nil || findingsByPath[changes[$0].path] != nil }
        let anchors = Dictionary(shownFiles.map { (changes[$0].path, "f\($0)") }, uniquingKeysWith: { first, _ in first })
        if !scanFindings.isEmpty || scanNote != nil {
            out += "<h2>New scan findings (\(scanFindings.count))</h2>\n"
            if let scanNote { out += "<p>\(visibleHTML(scanNote))</p>\n" }
            out += "<ol class=\"findings\">\n"
            for (path, indices) in findingsByPath.sorted(by: { $0.key < $1.key }) {
                let file = anchors[path] ?? ""
                for (n, index) in indices.enumerated() {
                    let f = scanFindings[index]
                    out += "<li><a href=\"#\(file)-n\(n + 1)\"><code>\(visibleHTML(path))\(f.line.map { ":\($0)" } ?? "")</code></a> "
                    out += "<span class=\"sev \(f.severity)\">\(f.severity)</span> <code>\(escapeHTML(f.rule))</code>: \(visibleHTML(f.message))</li>\n"
                }
            }
            out += "</ol>\n"
        }
        out += "<h2>Changed files by directory</h2>\n"
        out += renderTree(anchors)
        if !shownFiles.isEmpty {
            out += "<h2>Content</h2>\n"
            for index in shownFiles {
                let path = changes[index].path
                out += renderFile(changes[index], anchor: "f\(index)", findings: (findingsByPath[path] ?? []).map { scanFindings[$0] },
                                  excerpts: excerpts[path] ?? [:])
            }
        }
        out += "</body></html>\n"
        return out
    }

    /// One file's block: its new findings, each linking to its line in the diff, then the diff,
    /// its lines with a finding marked and linking back, every hidden character a marked escape.
    private func renderFile(_ c: Item, anchor: String, findings: [ScanReport.Item], excerpts: [Int: String]) -> String {
        var out = "<details open id=\"\(anchor)\"><summary><code>\(visibleHTML(c.path))</code></summary>\n"
        // The new-side line numbers the diff shows, so a finding links only to a line that is there.
        var shownLines = Set<Int>()
        var diffLines: [(text: Substring, newLine: Int?)] = []
        if let diff = c.content?.diff {
            var newLine = 0
            var inHunk = false
            for line in diff.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("@@") {
                    inHunk = true
                    newLine = hunkNewStart(line) ?? 0
                    diffLines.append((line, nil))
                } else if inHunk && (line.hasPrefix("+") || line.hasPrefix(" ")) {
                    shownLines.insert(newLine)
                    diffLines.append((line, newLine))
                    newLine += 1
                } else {
                    diffLines.append((line, nil))
                }
            }
        }
        // Lines with a finding that the diff does not show are shown on their own, after it.
        let excerptLines = Set(findings.compactMap(\.line)).subtracting(shownLines).filter { excerpts[$0] != nil }.sorted()
        var findingsOnLine: [Int: [Int]] = [:]
        if !findings.isEmpty {
            out += "<ol class=\"findings\">\n"
            for (n, f) in findings.enumerated() {
                out += "<li id=\"\(anchor)-n\(n + 1)\"><span class=\"sev \(f.severity)\">\(f.severity)</span> <code>\(escapeHTML(f.rule))</code> "
                if let line = f.line {
                    let place = "line \(line)" + (f.column.map { ":\($0)" } ?? "")
                    if shownLines.contains(line) || excerptLines.contains(line) {
                        findingsOnLine[line, default: []].append(n + 1)
                        out += "<a href=\"#\(anchor)-L\(line)\">\(place)</a>"
                    } else {
                        out += place
                    }
                }
                out += ": \(visibleHTML(f.message))"
                if !f.codePoints.isEmpty { out += " <span class=\"count\">(\(escapeHTML(f.codePoints.joined(separator: ", "))))</span>" }
                out += "</li>\n"
            }
            out += "</ol>\n"
        }
        if let note = c.content?.note { out += "<p>\(visibleHTML(note))</p>\n" }
        if c.content?.diff != nil {
            out += "<pre>"
            for (line, newLine) in diffLines {
                let cls = line.hasPrefix("@@") ? "hunk" : line.hasPrefix("+") && !line.hasPrefix("+++") ? "ins"
                    : line.hasPrefix("-") && !line.hasPrefix("---") ? "del" : ""
                var text = visibleHTML(line)
                if !cls.isEmpty { text = "<span class=\"\(cls)\">\(text)</span>" }
                if let newLine, let numbers = findingsOnLine[newLine] {
                    text = flagged(text, newLine, numbers)
                }
                out += text + "\n"
            }
            out += "</pre>\n"
        }
        if !excerptLines.isEmpty {
            out += "<p>Lines with a finding, as the new side has them:</p>\n<pre>"
            for line in excerptLines {
                out += flagged("<span class=\"count\">\(line)</span>  " + visibleHTML(excerpts[line]!), line, findingsOnLine[line] ?? []) + "\n"
            }
            out += "</pre>\n"
        }
        return out + "</details>\n"

        /// A line marked as holding findings `numbers`: its anchor, and a link back to each.
        func flagged(_ html: String, _ line: Int, _ numbers: [Int]) -> String {
            let back = numbers.map { "<a class=\"flag\" href=\"#\(anchor)-n\($0)\">◀ finding \($0)</a>" }.joined(separator: " ")
            return "<span class=\"flagged\" id=\"\(anchor)-L\(line)\">\(html)</span>  \(back)"
        }
    }

    /// The changed paths as a tree of `<details>` (no script needed), each directory with its count.
    private func renderTree(_ anchors: [String: String]) -> String {
        final class Node {
            var children: [String: Node] = [:]
            var items: [Item] = []
            var count = 0
        }
        let root = Node()
        for c in changes {
            var node = root
            node.count += 1
            let parts = c.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            for part in parts.dropLast() {
                let next = node.children[part] ?? Node()
                node.children[part] = next
                next.count += 1
                node = next
            }
            node.items.append(c)
        }
        func render(_ node: Node) -> String {
            var out = "<ul>\n"
            for name in node.children.keys.sorted() {
                let child = node.children[name]!
                out += "<li><details class=\"changed\" open><summary>\(visibleHTML(name))/ <span class=\"count\">(\(child.count))</span></summary>\n"
                out += render(child)
                out += "</details></li>\n"
            }
            for item in node.items {
                let name = item.path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? item.path
                out += "<li><span class=\"k \(item.kind)\">\(item.kind)</span>"
                out += anchors[item.path].map { "<a href=\"#\($0)\"><code>\(visibleHTML(name))</code></a>" } ?? "<code>\(visibleHTML(name))</code>"
                if let oldPath = item.oldPath { out += " ← <code>\(visibleHTML(oldPath))</code>" }
                out += " <span class=\"count\">\(escapeHTML(describe(item)))</span></li>\n"
            }
            return out + "</ul>\n"
        }
        return render(root)
    }
}

/// The new side's first line number in a hunk header `@@ -a,b +c,d @@`.
private func hunkNewStart(_ header: Substring) -> Int? {
    guard let plus = header.range(of: " +") else { return nil }
    return Int(header[plus.upperBound...].prefix { $0.isASCII && $0.isNumber })
}

import Foundation
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
    var identical: Bool
    var old: SideInfo
    var new: SideInfo
    var summary: [String: Int]
    var directories: [DirectoryCount]
    var changes: [Item]

    init(old: DiffCommand.Side, new: DiffCommand.Side, changes: [Change], contents: [[UInt8]: ContentItem]) {
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
        var lines: [String] = []
        lines.append("glassbox: diff: " + (identical ? "identical" : "\(changes.count) change\(changes.count == 1 ? "" : "s")"))
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
            for c in changes where c.content != nil {
                lines.append("")
                lines.append(paint("--- content: \(c.path)", "1"))
                if let note = c.content?.note { lines.append(safe("(\(note))")) }
                if let diff = c.content?.diff {
                    for l in diff.split(separator: "\n", omittingEmptySubsequences: false) {
                        lines.append(l.hasPrefix("+") && !l.hasPrefix("+++") ? paint(String(l), "32")
                                     : l.hasPrefix("-") && !l.hasPrefix("---") ? paint(String(l), "31") : safe(String(l)))
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

    /// One self-contained page: inline style, no script, no external resource, and a
    /// Content-Security-Policy that forbids any, so even a mistake in escaping cannot run code.
    func html() -> String {
        var out = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'">
        <title>Glassbox diff</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f24;max-width:1200px}
        h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
        table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
        code,pre{font-family:ui-monospace,monospace;font-size:13px}
        pre{background:#f6f8fa;padding:.8em;overflow-x:auto}
        details{margin-left:1.2em}summary{cursor:pointer}
        .changed>summary{font-weight:600;color:#8a4600}
        .count{color:#57606a;font-weight:normal}
        .k{display:inline-block;min-width:10.5em;font-family:ui-monospace,monospace}
        .added{color:#116329}.removed{color:#a40e26}.modified,.renamed,.kind-changed,.mode-changed,.retargeted,.submodule-moved{color:#8a4600}
        .ins{color:#116329}.del{color:#a40e26}.hunk{color:#0550ae}
        .trusted{color:#116329}.untrusted{color:#a40e26;font-weight:600}
        ul{list-style:none;padding-left:1.2em;margin:.2em 0}
        </style></head><body>

        """
        out += "<h1>Glassbox diff: \(identical ? "identical" : "\(changes.count) change\(changes.count == 1 ? "" : "s")")</h1>\n"
        out += "<table>\n"
        for (name, side) in [("old", old), ("new", new)] {
            out += "<tr><th>\(name)</th><td>\(escapeHTML(side.label))</td><td>"
            if let trusted = side.trusted {
                out += "<span class=\"\(trusted ? "trusted" : "untrusted")\">\(trusted ? "trusted" : "NOT trusted"): \(escapeHTML(side.trust ?? ""))</span>"
            }
            out += "</td></tr>\n"
        }
        out += "</table>\n<h2>Summary</h2>\n<table>\n"
        for kind in Change.Kind.allCases where (summary[kind.rawValue] ?? 0) > 0 {
            out += "<tr><td class=\"\(kind.rawValue)\">\(kind.rawValue)</td><td>\(summary[kind.rawValue]!)</td></tr>\n"
        }
        out += "</table>\n<h2>Changed files by directory</h2>\n"
        out += renderTree()
        let withContent = changes.filter { $0.content != nil }
        if !withContent.isEmpty {
            out += "<h2>Content</h2>\n"
            for c in withContent {
                out += "<details open><summary><code>\(escapeHTML(c.path))</code></summary>\n"
                if let note = c.content?.note { out += "<p>\(escapeHTML(note))</p>\n" }
                if let diff = c.content?.diff {
                    out += "<pre>"
                    for line in diff.split(separator: "\n", omittingEmptySubsequences: false) {
                        let cls = line.hasPrefix("@@") ? "hunk" : line.hasPrefix("+") && !line.hasPrefix("+++") ? "ins"
                            : line.hasPrefix("-") && !line.hasPrefix("---") ? "del" : ""
                        out += cls.isEmpty ? escapeHTML(String(line)) + "\n" : "<span class=\"\(cls)\">\(escapeHTML(String(line)))</span>\n"
                    }
                    out += "</pre>\n"
                }
                out += "</details>\n"
            }
        }
        out += "</body></html>\n"
        return out
    }

    /// The changed paths as a tree of `<details>` (no script needed), each directory with its count.
    private func renderTree() -> String {
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
                out += "<li><details class=\"changed\" open><summary>\(escapeHTML(name))/ <span class=\"count\">(\(child.count))</span></summary>\n"
                out += render(child)
                out += "</details></li>\n"
            }
            for item in node.items {
                let name = item.path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? item.path
                out += "<li><span class=\"k \(item.kind)\">\(item.kind)</span><code>\(escapeHTML(name))</code>"
                if let oldPath = item.oldPath { out += " ← <code>\(escapeHTML(oldPath))</code>" }
                out += " <span class=\"count\">\(escapeHTML(describe(item)))</span></li>\n"
            }
            return out + "</ul>\n"
        }
        return render(root)
    }
}

/// Text for HTML: every character that could open markup or an attribute is an entity.
func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

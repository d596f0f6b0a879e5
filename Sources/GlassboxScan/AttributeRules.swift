import GlassboxGit

// The git attributes rule: which lines of which `.gitattributes` files change the bytes of which
// paths. Patterns come from the tree, so matching is linear in pattern × path (never
// backtracking), and the whole check has a work budget.

/// Bounds on the attributes check, so a hostile tree cannot make it slow or large.
public enum AttributeLimits {
    /// An attributes file larger than this is not read; a finding says so.
    public static let fileBytes = 1 << 20
    /// All attributes files of one tree together; past this, further files are not read either.
    public static let totalBytes = 16 << 20
    /// The matcher's work for one tree, in steps (one pattern position per path byte).
    static let matchSteps = 1 << 28
    /// Findings from one attributes file before the rest are summed up in one finding.
    static let findingsPerFile = 10_000
}

func gitattributeFindings(_ entries: [TreeEntry], _ files: [[UInt8]: [UInt8]], oversized: [[UInt8]],
                          steps: Int = AttributeLimits.matchSteps) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    for file in oversized {
        findings.append(ScanFinding("gitattributes-unchecked", .error, path: file,
                                    "an attributes file over \(AttributeLimits.fileBytes) bytes (or past \(AttributeLimits.totalBytes) for all of them) is too large to check: "
                                    + "it may change the checked-out bytes of any path"))
    }
    var budget = steps
    // Macros (`[attr]name attributes…`) count only in the top-level attributes file, as in git.
    var macros: [String: [String]] = [:]
    for rawLine in (files[Array(".gitattributes".utf8)] ?? []).split(separator: 0x0A) {
        if let line = AttributeLine(rawLine), let name = line.macro { macros[name] = line.attributes }
    }
    // Entries come sorted by path from the readers; if not, an index puts them in order, so each
    // attributes file finds its directory's entries by binary search.
    let sorted = zip(entries, entries.dropFirst()).allSatisfy { !$1.path.lexicographicallyPrecedes($0.path) }
    let order = sorted ? nil : entries.indices.sorted { entries[$0].path.lexicographicallyPrecedes(entries[$1].path) }
    for (file, content) in files.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
        let directory = Array(file.split(separator: UInt8(ascii: "/")).dropLast().joined(separator: [UInt8(ascii: "/")]))
        let prefix = directory.isEmpty ? [] : directory + [UInt8(ascii: "/")]
        let scope = entriesUnder(prefix, entries, order)
        var fromThisFile = 0
        var stopped: String?
        lines: for (number, rawLine) in content.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard let line = AttributeLine(rawLine), line.macro == nil, let pattern = AttributePattern(line.pattern) else { continue }
            var problems: [(rule: String, attribute: String)] = []
            for (attribute, macro) in expandMacros(line.attributes, macros) {
                let name = attribute.split(separator: "=", maxSplits: 1).first.map(String.init) ?? attribute
                let shown = attribute + (macro.map { "' (set by macro '\($0)')" } ?? "'")
                switch name {
                case "filter", "ident", "working-tree-encoding": problems.append(("gitattributes-filter", shown))
                case "text", "eol", "crlf": problems.append(("gitattributes-eol", shown))
                case "export-subst", "export-ignore": problems.append(("gitattributes-export", shown))
                default: break
                }
            }
            if problems.isEmpty { continue }
            for entry in scope {
                budget -= 1
                guard budget > 0 else { stopped = "too complex to check within the scan's work limit"; break lines }
                guard pattern.matches(entry.path[prefix.count...], steps: &budget) else { continue }
                guard fromThisFile + problems.count <= AttributeLimits.findingsPerFile else {
                    stopped = "matches more than \(AttributeLimits.findingsPerFile) times; the rest are not listed"
                    break lines
                }
                fromThisFile += problems.count
                for problem in problems {
                    findings.append(ScanFinding(problem.rule, ScanRules.severity(problem.rule), path: entry.path,
                                                "'\(problem.attribute) from \(Escaping.escape(file)):\(number + 1) (\(line.shownPattern)): "
                                                + (problem.rule == "gitattributes-export" ? "the git archive tarball differs from the tag"
                                                   : "the checked-out bytes differ from the git objects")))
                }
            }
        }
        if let stopped {
            findings.append(ScanFinding("gitattributes-unchecked", .error, path: file,
                                        "this attributes file is \(stopped): it may change the checked-out bytes of other paths"))
        }
    }
    return findings
}

/// The files and symlinks whose paths start with `prefix` (a directory and its slash, or empty).
private func entriesUnder(_ prefix: [UInt8], _ entries: [TreeEntry], _ order: [Int]?) -> [TreeEntry] {
    func at(_ i: Int) -> TreeEntry { entries[order?[i] ?? i] }
    var low = 0
    var high = entries.count
    while low < high {
        let mid = (low + high) / 2
        if at(mid).path.lexicographicallyPrecedes(prefix) { low = mid + 1 } else { high = mid }
    }
    var out: [TreeEntry] = []
    while low < entries.count, at(low).path.starts(with: prefix) {
        if at(low).kind != .submodule { out.append(at(low)) }
        low += 1
    }
    return out
}

/// One line of a `.gitattributes` file as git reads it: a pattern (C-quoted when it starts with
/// a double quote) and its attributes, separated by blanks (space, tab, CR).
package struct AttributeLine {
    package var pattern: [UInt8]
    /// The pattern as written, for messages.
    package var shownPattern: String
    package var attributes: [String]
    /// For a macro definition (`[attr]name …`, which names no path): the macro's name.
    package var macro: String?

    /// nil for blank lines and comments.
    package init?(_ raw: ArraySlice<UInt8>) {
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        // Git reads a line as a C string: a NUL ends it.
        let raw = raw.prefix { $0 != 0 }
        guard let start = raw.firstIndex(where: { !isBlank($0) }), raw[start] != UInt8(ascii: "#") else { return nil }
        var rest = raw[start...]
        let end: Int
        if rest.first == UInt8(ascii: "\""), let (unquoted, after) = unquoteC(rest) {
            pattern = unquoted
            end = after
        } else {
            end = rest.firstIndex(where: isBlank) ?? rest.endIndex
            pattern = Array(rest[..<end])
        }
        shownPattern = Escaping.escape(Array(rest[..<end]))
        rest = rest[end...]
        macro = pattern.starts(with: Array("[attr]".utf8)) ? String(decoding: pattern.dropFirst(6), as: UTF8.self) : nil
        attributes = rest.split(whereSeparator: isBlank).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The attributes a line sets, each with the macro that set it (nil when the line names it
/// itself). A macro expands only when set (its bare name), as in git; each macro expands once,
/// so cycles end, and the expansion is bounded.
package func expandMacros(_ attributes: [String], _ macros: [String: [String]]) -> [(attribute: String, macro: String?)] {
    var out: [(attribute: String, macro: String?)] = []
    var work = attributes.reversed().map { (attribute: $0, macro: String?.none) }
    var expanded = Set<String>()
    while let item = work.popLast(), out.count < 1000 {
        out.append(item)
        if let body = macros[item.attribute], expanded.insert(item.attribute).inserted {
            work += body.reversed().map { ($0, item.attribute) }
        }
    }
    return out
}

/// A C-quoted string at the start of `text` (as git writes paths): its bytes and the index just
/// after the closing quote, or nil when it is not one.
func unquoteC(_ text: ArraySlice<UInt8>) -> ([UInt8], Int)? {
    var out: [UInt8] = []
    var i = text.startIndex + 1
    let escapes: [UInt8: UInt8] = [0x61: 7, 0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13, 0x74: 9, 0x76: 11, 0x5C: 0x5C, 0x22: 0x22]
    while i < text.endIndex {
        let b = text[i]
        if b == UInt8(ascii: "\"") { return (out, i + 1) }
        if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
        guard i + 1 < text.endIndex else { return nil }
        let e = text[i + 1]
        if let value = escapes[e] { out.append(value); i += 2; continue }
        // Three octal digits, the first at most 3.
        guard i + 3 < text.endIndex, (0x30...0x33).contains(e), (0x30...0x37).contains(text[i + 2]),
              (0x30...0x37).contains(text[i + 3]) else { return nil }
        out.append((e - 0x30) << 6 | (text[i + 2] - 0x30) << 3 | (text[i + 3] - 0x30))
        i += 4
    }
    return nil
}

/// Whether an attributes pattern (from a file in the tree's root) applies to `path`.
func attributePatternMatches(_ pattern: [UInt8], _ path: [UInt8]) -> Bool {
    var steps = Int.max
    return AttributePattern(pattern)?.matches(path[...], steps: &steps) ?? false
}

/// A gitattributes pattern, compiled once, with git's semantics (wildmatch as git's attribute
/// code calls it):
/// - a pattern without a slash matches a path's last component; with one, the path relative to
///   the attributes file (a leading slash only anchors);
/// - in the second form `*`, `?` and `[…]` never match a slash; `**` matches across slashes
///   only as a whole component (`**/x`, `x/**`, `x/**/y`), elsewhere it is `*`;
/// - `[…]` takes ranges (a reversed one matches nothing), `!` or `^` to negate, `[:alpha:]`
///   and the other POSIX classes (ASCII only), and backslash escapes; a malformed class makes
///   the pattern match nothing, as does a trailing backslash;
/// - a trailing slash means directories only, so no file matches; a leading `!` is refused by
///   git for attributes, so such a line is ignored (`init` returns nil).
/// Matching follows every possible position at once (a set of states per path byte), so its
/// time is at most pattern length × path length, whatever the pattern.
package struct AttributePattern {
    /// One step of a compiled pattern.
    enum Token: Equatable {
        /// One byte from the set.
        case byteSet(ByteSet)
        /// Any run of bytes other than `/`.
        case star
        /// Any run of bytes.
        case globstar
        /// The start of `**/`, which may also stand for nothing: reads no byte, and leads both
        /// into the `**` (the next token, a globstar, then a `/`) and past all three.
        case directories
    }

    /// Whether the pattern is matched against the last path component only.
    let basenameOnly: Bool
    /// The literal start of a pattern with a slash, compared before the tokens (as git does;
    /// a `**` right after it counts as the start of the pattern).
    let literalPrefix: [UInt8]
    let tokens: [Token]
    /// A pattern that matches nothing: directories only, a malformed class, a trailing backslash.
    let matchesNothing: Bool

    package init?(_ raw: [UInt8]) {
        var pattern = Array(raw.prefix { $0 != 0 })
        if pattern.first == UInt8(ascii: "!") { return nil }
        var nothing = false
        if pattern.last == UInt8(ascii: "/") { pattern.removeLast(); nothing = true }
        basenameOnly = !pattern.contains(UInt8(ascii: "/"))
        if !basenameOnly && pattern.first == UInt8(ascii: "/") { pattern.removeFirst() }
        let literal = basenameOnly ? 0 : (pattern.firstIndex { "*?[\\".utf8.contains($0) } ?? pattern.count)
        literalPrefix = Array(pattern[..<literal])
        if let compiled = Self.compile(pattern[literal...], pathname: !basenameOnly) {
            tokens = compiled
        } else {
            tokens = []
            nothing = true
        }
        matchesNothing = nothing
    }

    /// The tokens of `p`, or nil when it matches nothing.
    private static func compile(_ p: ArraySlice<UInt8>, pathname: Bool) -> [Token]? {
        let slash = UInt8(ascii: "/")
        var tokens: [Token] = []
        var i = p.startIndex
        func single(_ b: UInt8) -> Token { var set = ByteSet(); set.insert(b); return .byteSet(set) }
        while i < p.endIndex {
            switch p[i] {
            case UInt8(ascii: "\\"):
                guard i + 1 < p.endIndex else { return nil }
                tokens.append(single(p[i + 1]))
                i += 2
            case UInt8(ascii: "?"):
                var set = ByteSet.all
                if pathname { set.remove(slash) }
                tokens.append(.byteSet(set))
                i += 1
            case UInt8(ascii: "*"):
                var end = i
                while end < p.endIndex && p[end] == UInt8(ascii: "*") { end += 1 }
                let whole = end - i >= 2 && (i == p.startIndex || p[i - 1] == slash)
                    && (end == p.endIndex || p[end] == slash
                        || (p[end] == UInt8(ascii: "\\") && end + 1 < p.endIndex && p[end + 1] == slash))
                if whole && end < p.endIndex && p[end] == slash {
                    tokens += [.directories, .globstar]   // the slash follows as its own token
                } else {
                    tokens.append(whole || !pathname ? .globstar : .star)
                }
                i = end
            case UInt8(ascii: "["):
                guard let (set, next) = bracket(p, from: i) else { return nil }
                tokens.append(.byteSet(pathname ? set.removing(slash) : set))
                i = next
            default:
                tokens.append(single(p[i]))
                i += 1
            }
        }
        return tokens
    }

    /// The bracket expression starting at `open`: its set and the index after its `]`, or nil
    /// when it is malformed (no closing bracket, an unknown class name).
    private static func bracket(_ p: ArraySlice<UInt8>, from open: Int) -> (ByteSet, Int)? {
        var set = ByteSet()
        var j = open + 1
        let negated = j < p.endIndex && (p[j] == UInt8(ascii: "!") || p[j] == UInt8(ascii: "^"))
        if negated { j += 1 }
        var previous: UInt8? = nil   // the last single byte, which a following `-` makes a range start
        var first = true
        while true {
            guard j < p.endIndex else { return nil }
            var c = p[j]
            if c == UInt8(ascii: "]") && !first { break }
            first = false
            if c == UInt8(ascii: "\\") {
                j += 1
                guard j < p.endIndex else { return nil }
                c = p[j]
                set.insert(c)
                previous = c
            } else if c == UInt8(ascii: "-"), let low = previous, j + 1 < p.endIndex, p[j + 1] != UInt8(ascii: "]") {
                j += 1
                var high = p[j]
                if high == UInt8(ascii: "\\") {
                    j += 1
                    guard j < p.endIndex else { return nil }
                    high = p[j]
                }
                if low <= high { for b in low...high { set.insert(b) } }   // a reversed range adds nothing
                previous = nil
            } else if c == UInt8(ascii: "["), j + 1 < p.endIndex, p[j + 1] == UInt8(ascii: ":") {
                let nameStart = j + 2
                guard let close = p[nameStart...].firstIndex(of: UInt8(ascii: "]")) else { return nil }
                if close - nameStart < 1 || p[close - 1] != UInt8(ascii: ":") {
                    // Not `[:name:]`: the `[` is an ordinary member.
                    set.insert(c)
                    previous = c
                } else {
                    guard let members = ByteSet.posixClass(p[nameStart..<(close - 1)]) else { return nil }
                    set.formUnion(members)
                    previous = nil
                    j = close
                }
            } else {
                set.insert(c)
                previous = c
            }
            j += 1
        }
        return (negated ? set.complement : set, j + 1)
    }

    /// Whether the pattern applies to `path` (relative to the attributes file's directory).
    /// Each byte of the path costs one step per pattern token, taken from `steps`; when the
    /// steps run out the answer is false and `steps` is at most 0.
    package func matches(_ path: ArraySlice<UInt8>, steps: inout Int) -> Bool {
        if matchesNothing { return false }
        var text = path
        if basenameOnly {
            if let slash = path.lastIndex(of: UInt8(ascii: "/")) { text = path[(slash + 1)...] }
        } else {
            guard text.starts(with: literalPrefix) else { return false }
            text = text.dropFirst(literalPrefix.count)
        }
        let n = tokens.count
        var current = [Bool](repeating: false, count: n + 1)
        var next = current
        current[0] = true
        close(&current)
        for byte in text {
            steps -= n + 1
            if steps < 0 { return false }
            var any = false
            for k in 0..<n where current[k] {
                switch tokens[k] {
                case let .byteSet(set): if set.contains(byte) { next[k + 1] = true; any = true }
                case .star: if byte != UInt8(ascii: "/") { next[k] = true; any = true }
                case .globstar: next[k] = true; any = true
                case .directories: break
                }
            }
            if !any { return false }
            close(&next)
            swap(&current, &next)
            for k in 0...n { next[k] = false }
        }
        return current[n]
    }

    /// Adds the states reachable without reading a byte: past a star that matches nothing, and
    /// past `**/` altogether.
    private func close(_ states: inout [Bool]) {
        for k in 0..<tokens.count where states[k] {
            switch tokens[k] {
            case .star, .globstar: states[k + 1] = true
            case .directories: states[k + 1] = true; states[k + 3] = true
            case .byteSet: break
            }
        }
    }
}

/// A set of bytes, as four 64-bit words.
struct ByteSet: Equatable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    static var all: ByteSet { var s = ByteSet(); s.words = (~0, ~0, ~0, ~0); return s }

    static func == (a: ByteSet, b: ByteSet) -> Bool { a.words == b.words }

    func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    mutating func remove(_ b: UInt8) {
        let bit = ~(UInt64(1) << UInt64(b & 63))
        switch b >> 6 {
        case 0: words.0 &= bit
        case 1: words.1 &= bit
        case 2: words.2 &= bit
        default: words.3 &= bit
        }
    }

    func removing(_ b: UInt8) -> ByteSet { var s = self; s.remove(b); return s }

    mutating func formUnion(_ other: ByteSet) {
        words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
    }

    var complement: ByteSet { var s = ByteSet(); s.words = (~words.0, ~words.1, ~words.2, ~words.3); return s }

    init() {}

    init(filtering source: ByteSet, _ keep: (UInt8) -> Bool) {
        for b in UInt8.min...UInt8.max where source.contains(b) && keep(b) { insert(b) }
    }

    /// The POSIX class `name` (alpha, digit, …) over ASCII, with git's notion of space (tab,
    /// newline, carriage return, space); nil for an unknown name.
    static func posixClass(_ name: ArraySlice<UInt8>) -> ByteSet? {
        let test: (UInt8) -> Bool
        func alpha(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        func digit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
        func graph(_ b: UInt8) -> Bool { (0x21...0x7E).contains(b) }
        switch String(decoding: name, as: UTF8.self) {
        case "alnum": test = { alpha($0) || digit($0) }
        case "alpha": test = alpha
        case "blank": test = { $0 == 0x20 || $0 == 0x09 }
        case "cntrl": test = { $0 < 0x20 || $0 == 0x7F }
        case "digit": test = digit
        case "graph": test = graph
        case "lower": test = { (0x61...0x7A).contains($0) }
        case "print": test = { (0x20...0x7E).contains($0) }
        case "punct": test = { graph($0) && !alpha($0) && !digit($0) }
        case "space": test = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        case "upper": test = { (0x41...0x5A).contains($0) }
        case "xdigit": test = { digit($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }
        default: return nil
        }
        return ByteSet(filtering: .all, test)
    }
}

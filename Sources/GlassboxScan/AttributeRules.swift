import CScanKernel
import Foundation
import GlassboxGit

// The git attributes rule: which lines of which `.gitattributes` files change the bytes a
// checkout or `git archive` writes, and for how many files. Each path's attributes are decided
// as git decides them (the nearest attributes file first, its last line first; a macro expands
// where it is decided set), then each deciding line is held against what the path's bytes would
// become. One finding per line, with its count and paths. Patterns come from the tree, so
// matching is linear in pattern × path (never backtracking), and the whole check has a work
// budget.
//
// What a checkout writes is computed for a fixed, documented configuration: git on Linux with
// `core.autocrlf` unset or false and `core.eol` unset or `lf`, no attributes outside the tree
// (no `$GIT_DIR/info/attributes`, `core.attributesFile` or system file), and no filter driver.
// Then only these change bytes (git's convert.c and archive.c):
// - `eol=crlf` (with `text` not unset): LF becomes CRLF, where the file has an LF not after a
//   CR; with `text=auto` also only when the file has no CR at all and looks like text;
// - `ident`: where the file holds `$Id$` (or `$Id:…$` on one line);
// - `working-tree-encoding` other than UTF-8: the file is re-encoded;
// - `filter=NAME`: only where a driver NAME is configured, which no tree can do (the scan of a
//   repository reads its own config, never the global or system one);
// - `export-subst` (archive only): where `$Format:` is followed by a `$`;
// - `export-ignore` (archive only): the file, or a directory and all under it, is left out.
// `text`, `text=auto`, `eol=lf` and `crlf=input` change nothing on the way out. (A Windows
// checkout, `core.autocrlf=true`, writes CRLF into every text file whatever the attributes say;
// that is the reviewer's own setting, and `eol=lf` lines keep LF there.)

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
    /// Paths named in a finding's message; all of them are in its `paths`.
    static let pathsInMessage = 3
}

/// Where the scanned bytes came from, which decides what an attribute line can change.
public enum AttributeSource: Sendable {
    /// A commit's git objects: what a checkout or `git archive` writes from them is computed,
    /// and a line is reported only for the files whose bytes it changes.
    case gitObjects
    /// Files as read (a directory, a tarball, or bytes already converted): these are the bytes
    /// reviewed, and no checkout happens. A line that would change bytes in a checkout of the
    /// vendor's repository is reported once, with the files it names, as a note (a warning for
    /// `filter`).
    case files
}

/// What the attributes rule needs to know about one file's bytes.
public struct ConversionFacts: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// An LF not after a CR.
    public static let loneLF = ConversionFacts(rawValue: 1)
    /// A CR, alone or before an LF.
    public static let carriageReturn = ConversionFacts(rawValue: 2)
    /// git's `convert_is_binary`: a lone CR, a NUL, or more than one non-printable byte per 128
    /// printable ones.
    public static let looksBinary = ConversionFacts(rawValue: 4)
    /// `$Id$`, or `$Id:` with a `$` later on its line: what `ident` rewrites.
    public static let ident = ConversionFacts(rawValue: 8)
    /// `$Format:` with a `$` somewhere after it: what `export-subst` rewrites.
    public static let formatSubst = ConversionFacts(rawValue: 16)
}

/// Gathers a file's `ConversionFacts` as its bytes stream by, in chunks of any size, with
/// git's own tests (convert.c's `gather_stats` and `count_ident`, archive.c's `format_subst`).
/// Keeps a few counters, whatever the file's size.
struct ConversionProbe {
    private var bytes = 0, lf = 0, cr = 0, crlf = 0, nul = 0, nonPrintable = 0
    private var last: UInt8?
    /// How much of `$Id` was just read (0…3), or 4 inside `$Id:` waiting for its `$`.
    private var identState = 0
    private var foundIdent = false
    /// How much of `$Format:` was just read (0…8); 8 waits for a `$`.
    private var formatState = 0
    private var foundFormat = false
    private static let identText = Array("$Id".utf8)
    private static let formatText = Array("$Format:".utf8)

    /// Every file of a git tree streams through here, so the counting is one pass in C that
    /// vectorises; the markers, which need a `$`, are looked for only in a chunk that holds one
    /// (or continues a marker begun in the chunk before).
    mutating func consume(_ chunk: UnsafeRawBufferPointer) {
        guard let first = chunk.first else { return }
        let bytes = chunk.assumingMemoryBound(to: UInt8.self)
        // Once a NUL, a CR and a lone LF have been seen, no count can change a fact (the file
        // looks binary, has CRs and lone LFs for good): only the markers are left to find. A
        // binary blob gets there in its first chunk.
        if nul > 0 && cr > 0 && lf > crlf {
            let partial = (identState != 0 && identState != 4) || (formatState != 0 && formatState != 8)
            if partial || memchr(chunk.baseAddress!, Int32(UInt8(ascii: "$")), chunk.count) != nil {
                markers(bytes)
            } else if identState == 4 && memchr(chunk.baseAddress!, 0x0A, chunk.count) != nil {
                identState = 0
            }
            return
        }
        var counts = gb_byte_counts()
        gb_count_bytes(bytes.baseAddress, bytes.count, &counts)
        if last == 0x0D && first == 0x0A { crlf += 1 }   // a pair split between chunks
        self.bytes += bytes.count
        lf += Int(counts.lf)
        cr += Int(counts.cr)
        crlf += Int(counts.crlf)
        nul += Int(counts.nul)
        nonPrintable += Int(counts.nonprintable)
        last = bytes[bytes.count - 1]
        let partial = (identState != 0 && identState != 4) || (formatState != 0 && formatState != 8)
        if partial || memchr(chunk.baseAddress!, Int32(UInt8(ascii: "$")), chunk.count) != nil {
            markers(bytes)
        } else if identState == 4 && counts.lf > 0 {
            identState = 0   // `$Id:` ends with its line
        }
    }

    /// `$Id$`, `$Id:…$` (on one line) and `$Format:…$`, across chunk boundaries. Between
    /// markers only a `$` moves one on (and a newline ends `$Id:`), so the search skips ahead to
    /// the next `$`.
    private mutating func markers(_ chunk: UnsafeBufferPointer<UInt8>) {
        let dollar = UInt8(ascii: "$")
        var index = 0
        while index < chunk.count && !(foundIdent && foundFormat) {
            let identIdle = foundIdent || identState == 0 || identState == 4
            let formatIdle = foundFormat || formatState == 0 || formatState == 8
            if identIdle && formatIdle {
                // memchr: the C library's search, many bytes at a time.
                let base = UnsafeRawPointer(chunk.baseAddress!)
                var next = chunk.count
                if let found = memchr(base + index, Int32(dollar), chunk.count - index) {
                    next = UnsafeRawPointer(found) - base
                }
                if !foundIdent && identState == 4 && UnsafeBufferPointer(rebasing: chunk[index..<next]).contains(0x0A) { identState = 0 }
                if next == chunk.count { return }
                index = next
            }
            step(chunk[index])
            index += 1
        }
    }

    private mutating func step(_ byte: UInt8) {
        let dollar = UInt8(ascii: "$")
        if !foundIdent {
            switch identState {
            case 3: identState = byte == UInt8(ascii: ":") ? 4 : byte == dollar ? 1 : 0
                if byte == dollar { foundIdent = true }
            case 4: if byte == dollar { foundIdent = true } else if byte == 0x0A { identState = 0 }
            default: identState = byte == Self.identText[identState] ? identState + 1 : byte == dollar ? 1 : 0
            }
        }
        if !foundFormat {
            if formatState == 8 {
                if byte == dollar { foundFormat = true }
            } else {
                formatState = byte == Self.formatText[formatState] ? formatState + 1 : byte == dollar ? 1 : 0
            }
        }
    }

    func finish() -> ConversionFacts {
        let loneCR = cr - crlf
        let loneLF = lf - crlf
        // CR and LF are neither printable nor not; a trailing ^Z (an old DOS end-of-file mark)
        // does not count against text.
        let nonPrintable = nonPrintable - (last == 0x1A ? 1 : 0)
        let printable = bytes - self.nonPrintable - lf - cr
        var facts: ConversionFacts = []
        if loneLF > 0 { facts.insert(.loneLF) }
        if loneCR > 0 || crlf > 0 { facts.insert(.carriageReturn) }
        if loneCR > 0 || nul > 0 || (printable >> 7) < nonPrintable { facts.insert(.looksBinary) }
        if foundIdent { facts.insert(.ident) }
        if foundFormat { facts.insert(.formatSubst) }
        return facts
    }
}

/// The attributes whose values change what a checkout or `git archive` writes.
private let convertingAttributes: Set<String> = ["text", "crlf", "eol", "ident", "filter", "working-tree-encoding",
                                                 "export-subst", "export-ignore"]

/// One attribute as a line (or a macro) sets it.
struct AttributeState: Equatable {
    enum Value: Equatable { case set, unset, unspecified, string(String) }
    var name: String
    var value: Value
    /// As written, for messages.
    var written: String

    /// nil when git would refuse the name, and with it the whole line (attr.c: a name is
    /// `[-._0-9A-Za-z]`, does not start with `-`, and is not in the reserved `builtin_` space).
    init?(_ token: String) {
        written = token
        var rest = Substring(token)
        var value = Value.set
        // `-name` and `!name` ignore any `=value` (git's parse_attr: `!eol=crlf` is unspecified).
        if rest.first == "-" { value = .unset; rest = rest.dropFirst() } else if rest.first == "!" { value = .unspecified; rest = rest.dropFirst() }
        if let equals = rest.firstIndex(of: "=") {
            if value == .set { value = .string(String(rest[rest.index(after: equals)...])) }
            rest = rest[..<equals]
        }
        guard let first = rest.utf8.first, first != UInt8(ascii: "-"), !rest.hasPrefix("builtin_"),
              rest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                  || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }) else { return nil }
        name = String(rest)
        self.value = value
    }
}

/// A line of an attributes file that sets a converting attribute or a macro.
private struct AttributeRule {
    var line: Int
    var pattern: AttributePattern
    /// The pattern for a directory: a trailing slash (directories only) removed.
    var directoryPattern: AttributePattern?
    var shownPattern: String
    var states: [AttributeState]
}

/// Which line decided an attribute, and through which macro.
private struct Decision {
    var file: Int
    var rule: Int
    var state: AttributeState
    var macro: String?
}

/// What a deciding line does to a path.
private enum Effect: Int, Comparable {
    case lineEndings, ident, encoding, filterDriver, filter, exportSubst, exportIgnore
    static func < (a: Effect, b: Effect) -> Bool { a.rawValue < b.rawValue }
    var rule: String {
        switch self {
        case .lineEndings: "gitattributes-eol"
        case .ident, .encoding, .filterDriver, .filter: "gitattributes-filter"
        case .exportSubst, .exportIgnore: "gitattributes-export"
        }
    }
}

/// One finding's worth: a line of a file, and what it does.
private struct EffectKey: Hashable, Comparable {
    var file: Int, rule: Int, effect: Effect
    var written: String, macro: String?
    static func < (a: EffectKey, b: EffectKey) -> Bool {
        (a.file, a.rule, a.effect.rawValue, a.written, a.macro ?? "") < (b.file, b.rule, b.effect.rawValue, b.written, b.macro ?? "")
    }
}

/// One finding per attributes line that changes bytes (see the top of this file), with the paths
/// it changes; `gitattributes-unchecked` for each file in `oversized`, and for a file being
/// matched when the work budget (`steps`) ran out. `files`: each attributes file's content by
/// path; `conversions`: what each regular file's bytes hold; `drivers`: the filter drivers the
/// repository's config defines (for `.gitObjects`).
func gitattributeFindings(_ entries: [TreeEntry], _ files: [[UInt8]: [UInt8]], oversized: [[UInt8]],
                          conversions: [[UInt8]: ConversionFacts] = [:], source: AttributeSource = .files,
                          drivers: Set<[UInt8]> = [], steps: Int = AttributeLimits.matchSteps) -> [ScanFinding] {
    var findings: [ScanFinding] = []
    for file in oversized {
        findings.append(ScanFinding("gitattributes-unchecked", .error, path: file,
                                    "an attributes file over \(AttributeLimits.fileBytes) bytes (or past \(AttributeLimits.totalBytes) for all of them) is too large to check: "
                                    + "it may change the checked-out bytes of any path"))
    }
    var budget = steps
    // Macros (`[attr]name attributes…`) count only in the top-level attributes file, as in git;
    // the last definition wins, and git's built-in `binary` comes before all.
    var macros: [String: [AttributeState]] = ["binary": ["-diff", "-merge", "-text"].compactMap(AttributeState.init)]
    for rawLine in (files[Array(".gitattributes".utf8)] ?? []).split(separator: 0x0A) {
        if let line = AttributeLine(rawLine), let name = line.macro {
            let states = line.attributes.compactMap(AttributeState.init)
            if states.count == line.attributes.count { macros[name] = states }
        }
    }
    // Each attributes file's lines that can matter, and its directory (with its slash).
    let paths = files.keys.sorted { $0.lexicographicallyPrecedes($1) }
    var rules: [[AttributeRule]] = []
    var fileAt: [[UInt8]: Int] = [:]
    for (index, path) in paths.enumerated() {
        let directory = Array(path.split(separator: UInt8(ascii: "/")).dropLast().joined(separator: [UInt8(ascii: "/")]))
        let prefix = directory.isEmpty ? [] : directory + [UInt8(ascii: "/")]
        fileAt[prefix] = index
        var kept: [AttributeRule] = []
        for (number, rawLine) in files[path]!.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard let line = AttributeLine(rawLine), line.macro == nil, let pattern = AttributePattern(line.pattern) else { continue }
            let states = line.attributes.compactMap(AttributeState.init)
            guard states.count == line.attributes.count,
                  states.contains(where: { convertingAttributes.contains($0.name) || macros[$0.name] != nil }) else { continue }
            let directoryPattern = line.pattern.last == UInt8(ascii: "/") ? AttributePattern(Array(line.pattern.dropLast())) : pattern
            kept.append(AttributeRule(line: number + 1, pattern: pattern, directoryPattern: directoryPattern,
                                      shownPattern: line.shownPattern, states: states))
        }
        rules.append(kept)
    }
    var stopped: Int?   // the attributes file being matched when the budget ran out
    // The lengths of the directories (with their slash) that hold an attributes file: a path's
    // other directories are passed over without building or hashing their names, so a deep
    // path costs its depth, not its depth times its length.
    let fileDirectoryLengths = Set(fileAt.keys.map(\.count))

    /// git's `fill`: the converting attributes of `path`, each with the line that decided it.
    /// The attributes files of the path's directories are read nearest first, each from its
    /// last line up; the first line to name an attribute decides it, and a macro decided set
    /// expands in place, once. A stack of work stands in for git's recursion. nil when the
    /// budget ran out.
    func resolve(_ path: [UInt8], isDirectory: Bool) -> [String: Decision]? {
        var decided: [String: Decision] = [:]
        var macrosDecided = Set<String>()
        var end = path.lastIndex(of: UInt8(ascii: "/"))
        while true {
            let length = end.map { $0 + 1 } ?? 0
            // Looking a directory up costs its length, taken from the budget: a tree with an
            // attributes file at every level of a deep path stays bounded too.
            if fileDirectoryLengths.contains(length) {
                budget -= length + 1
                guard budget > 0 else { stopped = fileAt[[]] ?? 0; return nil }
            }
            if fileDirectoryLengths.contains(length), let file = fileAt[Array(path[..<length])] {
                let relative = path[length...]
                for (index, rule) in rules[file].enumerated().reversed() {
                    budget -= 1
                    guard budget > 0 else { stopped = file; return nil }
                    guard let pattern = isDirectory ? rule.directoryPattern : rule.pattern else { continue }
                    let matched = pattern.matches(relative, steps: &budget)
                    guard budget > 0 else { stopped = file; return nil }
                    guard matched else { continue }
                    var work: [(states: [AttributeState], next: Int, macro: String?)] = [(rule.states, rule.states.count, nil)]
                    while let top = work.popLast() {
                        guard top.next > 0 else { continue }
                        let state = top.states[top.next - 1]
                        work.append((top.states, top.next - 1, top.macro))
                        if convertingAttributes.contains(state.name), decided[state.name] == nil {
                            decided[state.name] = Decision(file: file, rule: index, state: state, macro: top.macro)
                        }
                        if let body = macros[state.name], macrosDecided.insert(state.name).inserted, state.value == .set {
                            work.append((body, body.count, state.name))
                        }
                    }
                }
            }
            guard let slash = end else { break }
            end = path[..<slash].lastIndex(of: UInt8(ascii: "/"))
        }
        return decided
    }

    var affected: [EffectKey: [[UInt8]]] = [:]
    func add(_ effect: Effect, _ decision: Decision, _ path: [UInt8]) {
        affected[EffectKey(file: decision.file, rule: decision.rule, effect: effect, written: decision.state.written,
                           macro: decision.macro), default: []].append(path)
    }
    // `git archive` asks about each directory on its way down and leaves out all under one
    // with `export-ignore` set: for each path, the outermost such directory and its line.
    enum DirectoryState { case kept, ignored(Decision) }
    // Each directory's state is decided once, from its parent's: a path costs the directories
    // above it not yet seen, never its depth times its length again.
    var directories: [[UInt8]: DirectoryState] = [:]
    func ignoringDirectory(_ path: [UInt8]) -> DirectoryState? {
        var pending: [[UInt8]] = []   // directories above `path` not yet decided, deepest first
        var state = DirectoryState.kept
        var end = path.lastIndex(of: UInt8(ascii: "/"))
        while let slash = end {
            let directory = Array(path[..<slash])
            if let known = directories[directory] { state = known; break }
            pending.append(directory)
            end = path[..<slash].lastIndex(of: UInt8(ascii: "/"))
        }
        for directory in pending.reversed() {
            if case .kept = state {
                guard let decided = resolve(directory, isDirectory: true) else { return nil }
                if let ignore = decided["export-ignore"], ignore.state.value == .set { state = .ignored(ignore) }
            }
            directories[directory] = state
        }
        return state
    }
    if !rules.allSatisfy(\.isEmpty) {
        for entry in entries where entry.kind != .submodule {
            guard let decided = resolve(entry.path, isDirectory: false), let directory = ignoringDirectory(entry.path) else { break }
            if case let .ignored(outer) = directory {
                add(.exportIgnore, outer, entry.path)
            } else if let ignore = decided["export-ignore"], ignore.state.value == .set {
                add(.exportIgnore, ignore, entry.path)
            }
            // Symlinks are written as they are: no conversion reaches them.
            guard entry.kind.isRegularFile else { continue }
            let facts = conversions[entry.path] ?? []
            let bySource = { (changes: Bool) in source == .files || changes }
            if let eol = decided["eol"], eol.state.value == .string("crlf") {
                switch lineEndingAction(text: decided["text"]?.state.value, crlf: decided["crlf"]?.state.value) {
                case .binary: break
                case .auto:
                    if bySource(facts.contains(.loneLF) && facts.isDisjoint(with: [.carriageReturn, .looksBinary])) { add(.lineEndings, eol, entry.path) }
                case .text:
                    if bySource(facts.contains(.loneLF)) { add(.lineEndings, eol, entry.path) }
                }
            }
            if let ident = decided["ident"], ident.state.value == .set, bySource(facts.contains(.ident)) {
                add(.ident, ident, entry.path)
            }
            if let encoding = decided["working-tree-encoding"], entry.size > 0 {
                switch encoding.state.value {
                case .unspecified: break
                case .string(let name) where name.isEmpty || ["utf-8", "utf8"].contains(name.lowercased()): break
                default: add(.encoding, encoding, entry.path)   // a re-encoding, or (set, unset) a checkout that stops
                }
            }
            if let filter = decided["filter"], case let .string(name) = filter.state.value {
                add(source == .gitObjects && drivers.contains(Array(name.utf8)) ? .filterDriver : .filter, filter, entry.path)
            }
            if case .kept = directory, let subst = decided["export-subst"], subst.state.value == .set,
               decided["export-ignore"]?.state.value != .set, bySource(facts.contains(.formatSubst)) {
                add(.exportSubst, subst, entry.path)
            }
        }
    }
    var fromFile: [Int: Int] = [:]
    var summed = Set<Int>()
    for (key, changed) in affected.sorted(by: { $0.key < $1.key }) {
        let file = paths[key.file]
        fromFile[key.file, default: 0] += 1
        guard fromFile[key.file]! <= AttributeLimits.findingsPerFile else {
            if summed.insert(key.file).inserted {
                findings.append(ScanFinding("gitattributes-unchecked", .error, path: file,
                                            "this attributes file has more than \(AttributeLimits.findingsPerFile) lines that change bytes; the rest are not listed"))
            }
            continue
        }
        let rule = rules[key.file][key.rule]
        let shown = "'\(Escaping.escape(Array(key.written.utf8)))'" + (key.macro.map { " (set by macro '\(Escaping.escape(Array($0.utf8)))')" } ?? "")
            + " for \(rule.shownPattern)"
        var finding = ScanFinding(key.effect.rule, severity(key.effect, source), path: file, line: rule.line,
                                  shown + ": " + effectText(key.effect, count: changed.count, source: source) + ": "
                                  + changed.prefix(AttributeLimits.pathsInMessage).map { Escaping.escape($0) }.joined(separator: ", ")
                                  + (changed.count > AttributeLimits.pathsInMessage ? ", …" : ""))
        finding.paths = changed.map { Escaping.escape($0) }
        findings.append(finding)
    }
    if let stopped {
        findings.append(ScanFinding("gitattributes-unchecked", .error, path: paths[stopped],
                                    "this attributes file is too complex to check within the scan's work limit: it may change the checked-out bytes of other paths"))
    }
    return findings
}

/// git's `convert_attrs` for the way out, reduced to what `eol=crlf` does with it: `text`
/// decides, the old `crlf` only when `text` says nothing; unset is binary, `auto` converts only
/// text-looking files, anything else converts.
private enum LineEndingAction { case binary, auto, text }
private func lineEndingAction(text: AttributeState.Value?, crlf: AttributeState.Value?) -> LineEndingAction {
    func action(_ value: AttributeState.Value?) -> LineEndingAction? {
        switch value {
        case .set: .text
        case .unset: .binary
        case .string("auto"): .auto
        case .string("input"): .text
        default: nil
        }
    }
    return action(text) ?? action(crlf) ?? .text
}

private func severity(_ effect: Effect, _ source: AttributeSource) -> ScanFinding.Severity {
    if effect == .filter { return .warning }
    return source == .files ? .note : ScanRules.severity(effect.rule)
}

private func effectText(_ effect: Effect, count: Int, source: AttributeSource) -> String {
    let files = count == 1 ? "1 file" : "\(count) files"
    let name = count == 1 ? "names" : "name"
    switch (effect, source) {
    case (.lineEndings, .gitObjects): return "a checkout or git archive writes CRLF line endings into \(files) stored with LF"
    case (.ident, .gitObjects): return "a checkout or git archive writes the blob id into $Id$ in \(files)"
    case (.encoding, .gitObjects): return "a checkout or git archive re-encodes \(files) from the UTF-8 stored"
    case (.filterDriver, _):
        return "the repository's config defines this filter driver: a checkout here runs it on \(files), which then hold "
            + "whatever it writes"
    case (.exportSubst, .gitObjects): return "git archive expands $Format:…$ in \(files), so the tarball differs from the tag"
    case (.filter, .gitObjects):
        return "\(files) \(name) a filter driver that no tree can define: a checkout here writes the stored bytes unless this "
            + "machine's git config defines the driver (as git-lfs does), and the vendor's own checkouts may differ"
    case (.exportIgnore, _): return "git archive leaves out \(files), so the tarball differs from the tag"
    case (.filter, .files):
        return "\(files) \(name) a filter driver: the bytes checked are the ones read, and a checkout of the vendor's repository "
            + "with the driver may differ"
    case (_, .files):
        return "a checkout of the vendor's repository may change \(files); the bytes checked are the ones read"
    }
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

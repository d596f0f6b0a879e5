import GlassboxGit

// The content rules, fed one chunk at a time: what a file holds is read once, in order, and
// memory stays the same whatever the file's size or the length of its lines.

/// Bounds on what the content scan keeps of one file.
enum ContentLimits {
    /// Git's rule for binary: a NUL in the first this many bytes.
    static let binaryProbe = 8000
    /// An all-ASCII start of a file is held up to this size, so a file that never leaves ASCII
    /// needs no per-character work; past it, or at the first other byte, the lexer reads it.
    static let held = 1 << 20
    /// Open bidi controls kept per line (the depth of Unicode's bidi algorithm); more are
    /// counted as open without being kept.
    static let openControls = 125
    /// Identifiers longer than this (in code points) are not compared for look-alikes.
    static let identifierLength = 256
    /// Distinct identifiers, and their total UTF-8 bytes, kept per file for the look-alike rules.
    static let identifiers = 1 << 16
    static let identifierBytes = 4 << 20
    /// Code points listed in one finding for a run of adjacent characters.
    static let runCodePoints = 16
    /// Findings listed per file; the rest are counted in one more finding.
    static let findings = 1000
}

/// Scans one file's content as a whole: the same as feeding it to a `ContentScanner` in one chunk.
public func scanContent(path: [UInt8], kind: EntryKind, size: UInt64, content: [UInt8], options: ScanOptions) -> [ScanFinding] {
    let scanner = ContentScanner(path: path, size: size, options: options)
    _ = content.withUnsafeBytes { scanner.consume($0) }
    return scanner.finish()
}

/// Scans one file's content as it arrives: bidi controls, invisible characters, identifiers,
/// long lines and opaque content. Chunks may be of any size and split anywhere (inside a UTF-8
/// sequence, a line, an identifier); the findings are the same.
public final class ContentScanner {
    private let path: [UInt8]
    private let size: UInt64
    private let options: ScanOptions
    private var findings: [ScanFinding] = []
    /// The file's first bytes while they are all ASCII (and for the binary decision).
    private var held: [UInt8] = []
    private var heldHigh: UInt8 = 0
    private var decided = false
    private var done = false
    /// Known once the first bytes are in (a `#!` line names the language).
    private var language = FileLanguage(path: [], head: [])
    private var lexer: TextLexer?

    /// `size` is the file's full size, as the reader reports it before the content.
    public init(path: [UInt8], size: UInt64, options: ScanOptions) {
        self.path = path
        self.size = size
        self.options = options
    }

    /// Reads the next bytes; returns false when the scan needs no more of this file (it is binary).
    public func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if done { return false }
        if let lexer {
            lexer.feed(chunk)
            return true
        }
        held.append(contentsOf: chunk)
        heldHigh |= highBits(chunk)
        if !decided && held.count >= ContentLimits.binaryProbe && !decide() { return false }
        if decided && (heldHigh >= 0x80 || held.count > ContentLimits.held) { startLexer() }
        return true
    }

    /// Ends the file and returns its findings.
    public func finish() -> [ScanFinding] {
        if !done && (decided || decide()) {
            if lexer == nil && heldHigh >= 0x80 { startLexer() }
            if let lexer {
                findings += lexer.finish()
            } else if language.isCode {
                // All ASCII: only line length matters, and only in source files (minified code).
                if textProfile(held, limit: options.longLineBytes).maybeLongLine,
                   let (line, length) = firstLongLine(held, limit: options.longLineBytes) {
                    findings.append(ScanFinding("long-lines", .note, path: path, line: line,
                                                "a line of \(length) bytes: minified or generated code is hard to review"))
                }
            }
        }
        done = true
        held = []
        lexer = nil
        return findings
    }

    /// Looks at the first bytes for what makes a file opaque; false when it is not text (binary,
    /// or an executable), so nothing more is needed.
    private func decide() -> Bool {
        decided = true
        let head = held.prefix(ContentLimits.binaryProbe)
        let binary = isBinary(head)
        language = FileLanguage(path: path, head: head)
        let opaque = opaqueContent(path: path, size: size, head: head, binary: binary, options: options)
        findings += opaque
        if binary || opaque.contains(where: { $0.rule == "binary-executable" || $0.rule == "binary-large" }) {
            done = true
            held = []
            return false
        }
        return true
    }

    private func startLexer() {
        let lexer = TextLexer(path: path, language: language, options: options)
        held.withUnsafeBytes { lexer.feed($0) }
        held = []
        self.lexer = lexer
    }
}

/// The OR of all bytes: at least 0x80 when one is outside ASCII. Branch-free, so it vectorises.
private func highBits(_ bytes: UnsafeRawBufferPointer) -> UInt8 {
    var high: UInt8 = 0
    for byte in bytes { high |= byte }
    return high
}

/// One branch-free pass that vectorises: whether any byte is outside ASCII, and whether some
/// block of `limit / 2` bytes holds no newline (a line longer than `limit` always covers such
/// a block, so only then is the exact, slower line scan needed).
private func textProfile(_ content: [UInt8], limit: Int) -> (nonASCII: Bool, maybeLongLine: Bool) {
    content.withContiguousStorageIfAvailable { bytes in
        var high: UInt8 = 0
        var maybe = false
        let block = max(1, limit / 2)
        var start = 0
        while start < bytes.count {
            let end = min(start + block, bytes.count)
            var newlines = 0
            for index in start..<end {
                let byte = bytes[index]
                high |= byte
                newlines &+= byte == 0x0A ? 1 : 0
            }
            if newlines == 0 && end - start == block { maybe = true }
            start = end
        }
        return (high >= 0x80, maybe)
    }!
}

/// The first line longer than `limit`: its number and length.
private func firstLongLine(_ content: [UInt8], limit: Int) -> (Int, Int)? {
    var line = 1
    var start = content.startIndex
    while let end = content[start...].firstIndex(of: 0x0A) {
        if end - start > limit { return (line, end - start) }
        line += 1
        start = end + 1
    }
    return content.endIndex - start > limit ? (line, content.endIndex - start) : nil
}

/// Where in a line's text the lexer is, for bidi termination.
private enum Context: Equatable { case code, string(UInt32), lineComment, blockComment }

/// An open bidi embedding, override or isolate.
private struct OpenControl {
    var kind: UnicodeTables.BidiKind
    var column: Int
    var value: UInt32
}

/// Bidi controls open in one span (a line, a string, a comment): at most
/// `ContentLimits.openControls` kept; past that the span counts as left open whatever follows.
private struct OpenControls {
    var list: [OpenControl] = []
    var overflowColumn: Int?

    var isOpen: Bool { !list.isEmpty || overflowColumn != nil }

    mutating func push(_ control: OpenControl) {
        if list.count < ContentLimits.openControls { list.append(control) }
        else if overflowColumn == nil { overflowColumn = control.column }
    }

    /// PDF closes the last embedding or override.
    mutating func popFormatting() {
        if let last = list.lastIndex(where: { $0.kind != .isolate }) { list.remove(at: last) }
    }

    /// PDI closes the last isolate and every embedding opened after it.
    mutating func popIsolate() {
        if let last = list.lastIndex(where: { $0.kind == .isolate }) { list.removeSubrange(last...) }
    }

    mutating func reset() { self = OpenControls() }

    /// Forgets the controls `reported` listed (by column): they were reported at the end of a
    /// string or comment, and must not be reported again at the end of the line.
    mutating func remove(_ reported: OpenControls) {
        list.removeAll { control in reported.list.contains { $0.column == control.column } }
        if reported.overflowColumn != nil { overflowColumn = nil }
    }
}

/// The character-level rules as a state machine over bytes: UTF-8 decoding (invalid bytes
/// skipped), lines, a generic C-like lexer (strings, `//` and `/* */` comments, `#` where
/// used), bidi controls per line, invisible characters and identifiers. Everything kept per
/// line or per file is bounded by `ContentLimits`.
private final class TextLexer {
    private let path: [UInt8]
    private let options: ScanOptions
    private let hashComments: Bool
    /// Identifiers only mean something in code; data files (a list of confusables, say) are
    /// full of look-alikes by design.
    private let collectIdentifiers: Bool

    private var findings: [ScanFinding] = []
    private var unlisted = 0
    /// The finding for a run of adjacent characters, still growing, and the run's last column.
    private var run: (finding: ScanFinding, lastColumn: Int)?

    // UTF-8: the sequence being decoded.
    private var value: UInt32 = 0
    private var needed = 0
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF

    // Lines.
    private var line = 1
    private var lineBytes = 0
    private var firstLongLine: (line: Int, bytes: Int)?
    private var sawNonASCII = false
    /// Code points read in this line: the column of the last one.
    private var column = 0
    /// The last code point, waiting for the next one (the lexer looks one ahead for `//`, `/*`, `*/`).
    private var pending: UInt32?
    private var context = Context.code
    private var escapedNext = false
    private var open = OpenControls()
    private var contextOpen = OpenControls()

    // Identifiers.
    private var identifier: [UInt32] = []
    private var identifierColumn = 0
    private var identifierTooLong = false
    private var identifierNonASCII = false
    private var identifiers: [[UInt8]: (line: Int, column: Int)] = [:]
    private var identifierBytes = 0
    private var identifiersDropped = false

    init(path: [UInt8], language: FileLanguage, options: ScanOptions) {
        self.path = path
        self.options = options
        hashComments = language.hashComments
        collectIdentifiers = language.isCode
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        let inert = collectIdentifiers ? Self.inertInCode : Self.inertInText
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if needed == 0 && inert[Int(byte)] {
                // A run of bytes that only move the column: the first two go through the lexer
                // (which ends an identifier or an escape), the others are only counted.
                let end = Self.endOfRun(bytes, from: i + 1, inert)
                lineBytes += end - i
                if end - i <= 2 {
                    for j in i..<end { scalar(UInt32(bytes[j])) }
                } else {
                    scalar(UInt32(byte))
                    scalar(UInt32(bytes[i + 1]))
                    column += end - i - 2
                    pending = UInt32(bytes[end - 1])
                }
                i = end
                continue
            }
            i += 1
            if needed > 0 {
                if byte >= low && byte <= high {
                    value = value << 6 | UInt32(byte & 0x3F)
                    needed -= 1
                    low = 0x80
                    high = 0xBF
                    lineBytes += 1
                    if needed == 0 { scalar(value) }
                    continue
                }
                // A broken sequence: its bytes so far are skipped, and this one is read afresh.
                needed = 0
            }
            if byte == 0x0A {
                endLine()
                continue
            }
            lineBytes += 1
            if byte < 0x80 {
                if byte != 0x0D { scalar(UInt32(byte)) }
                continue
            }
            sawNonASCII = true
            startSequence(byte)
        }
    }

    /// The index of the first byte at or after `start` that is not in `table`.
    private static func endOfRun(_ bytes: UnsafeRawBufferPointer, from start: Int, _ table: [Bool]) -> Int {
        table.withUnsafeBufferPointer { inert in
            var end = start
            while end < bytes.count && inert[Int(bytes[end])] { end += 1 }
            return end
        }
    }

    /// ASCII bytes the lexer does nothing with but count: not a line end, quote, escape or
    /// comment marker, nor (in source files) part of an identifier.
    private static let inertInText: [Bool] = (0...255).map { byte in
        byte < 0x80 && !"\n\r\"'`/*#\\".utf8.contains(UInt8(byte))
    }
    private static let inertInCode: [Bool] = (0...255).map { byte in
        inertInText[byte] && !isIdentifierContinue(Unicode.Scalar(UInt8(byte)))
    }

    /// A lead byte: how many continuation bytes follow, and the range of the first (which
    /// excludes overlong forms, surrogates and values past U+10FFFF). Other bytes are skipped.
    private func startSequence(_ byte: UInt8) {
        low = 0x80
        high = 0xBF
        switch byte {
        case 0xC2...0xDF: needed = 1; value = UInt32(byte & 0x1F)
        case 0xE0: needed = 2; value = 0; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: needed = 2; value = UInt32(byte & 0x0F)
        case 0xED: needed = 2; value = 0x0D; high = 0x9F
        case 0xF0: needed = 3; value = 0; low = 0x90
        case 0xF1...0xF3: needed = 3; value = UInt32(byte & 0x07)
        case 0xF4: needed = 3; value = 4; high = 0x8F
        default: needed = 0
        }
    }

    func finish() -> [ScanFinding] {
        needed = 0
        endLine()
        // Long lines matter in source files (minified code), and in any file with text beyond
        // ASCII; an all-ASCII data file may be one long line.
        if let (line, bytes) = firstLongLine, sawNonASCII || collectIdentifiers {
            add(ScanFinding("long-lines", .note, path: path, line: line,
                            "a line of \(bytes) bytes: minified or generated code is hard to review"))
        }
        if collectIdentifiers {
            identifierFindings(path: path, identifiers).forEach(add)
            if identifiersDropped {
                add(ScanFinding("scan-limit", .warning, path: path,
                                "identifiers longer than \(ContentLimits.identifierLength) characters, or past the first "
                                + "\(ContentLimits.identifiers) distinct ones, were not compared for look-alikes"))
            }
        }
        if unlisted > 0 {
            findings.append(ScanFinding("scan-limit", .warning, path: path,
                                        "\(unlisted) more findings in this file are not listed"))
        }
        return findings
    }

    private func add(_ finding: ScanFinding) {
        if findings.count < ContentLimits.findings { findings.append(finding) } else { unlisted += 1 }
    }

    private func scalar(_ v: UInt32) {
        column += 1
        if let previous = pending {
            pending = nil
            if lex(previous, column: column - 1, next: v) { return }   // `v` completed a `/*` or `*/`
        }
        pending = v
    }

    private func endLine() {
        if let previous = pending {
            pending = nil
            _ = lex(previous, column: column, next: nil)
        }
        endIdentifier()
        flushRun()
        reportOpen(open, "a line")
        if lineBytes > options.longLineBytes && firstLongLine == nil { firstLongLine = (line, lineBytes) }
        // Line comments end with the line; so do strings in the languages this lexer models.
        if context != .blockComment { context = .code }
        open.reset()
        contextOpen.reset()
        escapedNext = false
        column = 0
        lineBytes = 0
        line += 1
    }

    /// A string or comment ends: controls left open in it are reported once, here, and not
    /// again at the end of the line.
    private func closeSpan(_ what: String) {
        reportOpen(contextOpen, what)
        open.remove(contextOpen)
        contextOpen.reset()
    }

    private func reportOpen(_ controls: OpenControls, _ where_: String) {
        guard controls.isOpen else { return }
        add(ScanFinding("bidi-unterminated", .error, path: path, line: line,
                        column: controls.list.first?.column ?? controls.overflowColumn,
                        codePoints: controls.list.map { describeCodePoint($0.value) },
                        "bidi control left open at the end of \(where_): the text shown is reordered"))
    }

    /// One code point, with the one after it on the same line; returns true when that next one
    /// is consumed too (the second character of `/*` or `*/`).
    private func lex(_ v: UInt32, column: Int, next: UInt32?) -> Bool {
        var skipNext = false
        switch context {
        case .code:
            if v == 0x22 || v == 0x27 || v == 0x60 { context = .string(v); contextOpen.reset() }
            else if v == 0x2F, next == 0x2F { context = .lineComment; contextOpen.reset() }
            else if v == 0x2F, next == 0x2A { context = .blockComment; contextOpen.reset(); skipNext = true }
            else if v == 0x23 && hashComments { context = .lineComment; contextOpen.reset() }
        case let .string(quote):
            if escapedNext { escapedNext = false }
            else if v == 0x5C { escapedNext = true }
            else if v == quote { closeSpan("a string"); context = .code }
        case .blockComment:
            if v == 0x2A, next == 0x2F { closeSpan("a comment"); context = .code; skipNext = true }
        case .lineComment: break
        }
        if v >= 0x80 { unicodeRules(v, column: column) }
        guard collectIdentifiers else { return skipNext }
        if context == .code, let scalar = Unicode.Scalar(v), isIdentifierContinue(scalar) {
            if identifier.isEmpty {
                if isIdentifierStart(scalar) { startIdentifier(v, column: column) }
            } else {
                extendIdentifier(v)
            }
        } else if context == .code && v >= 0x80 && UnicodeTables.isDefaultIgnorable(v) && !identifier.isEmpty {
            extendIdentifier(v)   // an invisible character inside an identifier stays part of it
        } else {
            endIdentifier()
        }
        return skipNext
    }

    /// Bidi controls, byte order marks and invisible characters (none of them is ASCII).
    private func unicodeRules(_ v: UInt32, column: Int) {
        if let kind = UnicodeTables.bidiControlKind(v) {
            switch kind {
            case .embedding, .override, .isolate:
                open.push(OpenControl(kind: kind, column: column, value: v))
                if context != .code { contextOpen.push(OpenControl(kind: kind, column: column, value: v)) }
            case .popFormatting:
                open.popFormatting()
                contextOpen.popFormatting()
            case .popIsolate:
                open.popIsolate()
                contextOpen.popIsolate()
            case .mark: break
            }
            if options.strict {
                addToRun("bidi-control", .warning, v, column: column, "a bidi control character", "bidi control characters")
            }
            endIdentifier()
        } else if v == 0xFEFF && !(line == 1 && column == 1) {
            add(ScanFinding("misplaced-bom", .error, path: path, line: line, column: column,
                            codePoints: [describeCodePoint(v)], "a byte order mark inside the text is invisible"))
        } else if UnicodeTables.isDefaultIgnorable(v) && v != 0xFEFF {
            // In comments, strings and prose, joiners and variation selectors build emoji and
            // non-joiners shape Persian words: report only in code.
            if (context == .code && collectIdentifiers) || options.strict {
                addToRun("invisible-character", .error, v, column: column,
                         context == .code && collectIdentifiers ? "an invisible character in code" : "an invisible character",
                         context == .code && collectIdentifiers ? "invisible characters in code" : "invisible characters")
            }
        }
    }

    /// Adjacent characters of one rule are one finding: a run of five zero-width spaces is one
    /// place to look, not five.
    private func addToRun(_ rule: String, _ severity: ScanFinding.Severity, _ v: UInt32, column: Int,
                          _ one: String, _ many: String) {
        if var current = run, current.finding.rule == rule, current.finding.line == line, current.lastColumn == column - 1 {
            // The run's first code points are listed; a run of any length keeps this many.
            if current.finding.codePoints.count < ContentLimits.runCodePoints { current.finding.codePoints.append(describeCodePoint(v)) }
            current.lastColumn = column
            current.finding.message = "\(column - current.finding.column! + 1) \(many)"
            run = current
            return
        }
        flushRun()
        run = (ScanFinding(rule, severity, path: path, line: line, column: column, codePoints: [describeCodePoint(v)], one), column)
    }

    private func flushRun() {
        if let finding = run?.finding { add(finding) }
        run = nil
    }

    private func startIdentifier(_ v: UInt32, column: Int) {
        identifier = [v]
        identifierColumn = column
        identifierTooLong = false
        identifierNonASCII = v >= 0x80
    }

    private func extendIdentifier(_ v: UInt32) {
        if identifier.count < ContentLimits.identifierLength { identifier.append(v) } else { identifierTooLong = true }
        if v >= 0x80 { identifierNonASCII = true }
    }

    private func endIdentifier() {
        guard !identifier.isEmpty else { return }
        defer { identifier.removeAll(keepingCapacity: true) }
        // Only identifiers beyond ASCII are compared with others, so dropping a long ASCII
        // one loses nothing: a look-alike of it would be as long, and dropped with a word.
        if identifierTooLong { identifiersDropped = identifiersDropped || identifierNonASCII; return }
        // Kept as UTF-8 bytes: as Strings, canonically equivalent spellings would be one key.
        let text = Array(String(String.UnicodeScalarView(identifier.compactMap(Unicode.Scalar.init))).utf8)
        guard identifiers[text] == nil else { return }
        if identifiers.count >= ContentLimits.identifiers || identifierBytes + text.count > ContentLimits.identifierBytes {
            identifiersDropped = true
            return
        }
        identifiers[text] = (line, identifierColumn)
        identifierBytes += text.count
    }
}

import CScanKernel
import Foundation
import GlassboxCrypto
import GlassboxGit

// The content rules, fed one chunk at a time: what a file holds is read once, in order, and
// memory stays the same whatever the file's size or the length of its lines.

/// Bounds on what the content scan keeps of one file.
enum ContentLimits {
    /// Git's rule for binary: a NUL in the first this many bytes.
    static let binaryProbe = 8000
    /// In a file that looks binary, a run of UTF-8 this long (or a whole line) is text and
    /// scanned; a shorter one between bytes that are not UTF-8 is what random binary data is
    /// made of, and lexed it would read as bidi controls at random.
    static let textStretch = 24
    /// A line's bytes kept for its digest; a longer line is hashed as it streams.
    static let lineKept = 64 << 10
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

/// Scans one file's content as it arrives: bidi controls, invisible characters, control
/// characters, identifiers, long lines and opaque content. Chunks may be of any size and split
/// anywhere (inside a UTF-8 sequence, a line, an identifier); the findings are the same.
///
/// What a compiler or interpreter would read as source is scanned as source, whatever its first
/// bytes: a source file (by name or `#!` line) is never skipped as binary, and a NUL or other
/// control character in it is a finding; a UTF-16 or UTF-32 file with a byte order mark is
/// decoded. Any other file that looks binary is still read to the end, and each stretch of it
/// that is text (a whole line, or `ContentLimits.textStretch` bytes of UTF-8 between bytes that
/// are not) is scanned: a shell script after a GIF header, PHP after a JPEG's.
public final class ContentScanner {
    private let path: [UInt8]
    private let size: UInt64
    private let options: ScanOptions
    private var findings: [ScanFinding] = []
    /// The first bytes, until they say which encoding the file is in.
    private var start: [UInt8] = []
    private var encoding: TextEncoding?
    private var decoder: WideTextDecoder?
    /// The file's first bytes (as UTF-8) while they are all ASCII (and for the binary decision).
    private var held: [UInt8] = []
    private var heldHigh: UInt8 = 0
    private var heldControl = false
    private var decided = false
    private var done = false
    /// Known once the first bytes are in (a `#!` line names the language).
    private var language = FileLanguage(path: [], head: [])
    /// The file looks binary and is not source: only its stretches of text are scanned.
    private var textStretches = false
    /// Whether the lines of a binary-looking file that hold nothing the rules report are
    /// counted rather than lexed (the same findings, sooner); off only to test just that.
    private let skipsInertLines: Bool
    private var lexer: TextLexer?

    /// `size` is the file's full size, as the reader reports it before the content.
    public convenience init(path: [UInt8], size: UInt64, options: ScanOptions) {
        self.init(path: path, size: size, options: options, skipsInertLines: true)
    }

    init(path: [UInt8], size: UInt64, options: ScanOptions, skipsInertLines: Bool) {
        self.path = path
        self.size = size
        self.options = options
        self.skipsInertLines = skipsInertLines
    }

    /// Reads the next bytes; returns false once the file is finished. Every byte of a file is
    /// read: a binary-looking file may hold text an interpreter runs.
    public func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if done { return false }
        if encoding == nil {
            start.append(contentsOf: chunk)
            if start.count >= 4 { settleEncoding() }
            return true
        }
        if decoder != nil {
            let utf8 = decoder!.decode(chunk)
            utf8.withUnsafeBytes { take($0) }
        } else {
            take(chunk)
        }
        return true
    }

    /// Ends the file and returns its findings.
    public func finish() -> [ScanFinding] {
        if done { return findings }
        if encoding == nil { settleEncoding() }
        if decoder != nil {
            let rest = decoder!.finish()
            rest.withUnsafeBytes { take($0) }
        }
        if !decided { decide() }
        if lexer == nil && needsLexer { startLexer() }
        if let lexer {
            findings += lexer.finish()
        } else if language.isCode {
            // All ASCII: only line length matters, and only in source files (minified code).
            if textProfile(held, limit: options.longLineBytes).maybeLongLine,
               let (line, range) = firstLongLine(held, limit: options.longLineBytes) {
                var finding = ScanFinding("long-lines", .note, path: path, line: line,
                                          "a line of \(range.count) bytes: minified or generated code is hard to review")
                finding.lineDigest = hexDigest(SHA256.hash(held[range]))
                findings.append(finding)
            }
        }
        done = true
        held = []
        lexer = nil
        return findings
    }

    /// The byte order mark, if any, decides how the rest is read.
    private func settleEncoding() {
        let encoding = TextEncoding(bom: start[...])
        self.encoding = encoding
        let bytes = start
        start = []
        if encoding == .utf8 {
            bytes.withUnsafeBytes { take($0) }
        } else {
            decoder = WideTextDecoder(encoding)
            let utf8 = bytes.withUnsafeBytes { decoder!.decode($0) }
            utf8.withUnsafeBytes { take($0) }
        }
    }

    /// UTF-8 bytes of the file, in order.
    private func take(_ chunk: UnsafeRawBufferPointer) {
        if let lexer {
            lexer.feed(chunk)
            return
        }
        held.append(contentsOf: chunk)
        let profile = byteProfile(chunk)
        heldHigh |= profile.high
        heldControl = heldControl || profile.control
        if !decided && held.count >= ContentLimits.binaryProbe { decide() }
        if decided && needsLexer { startLexer() }
    }

    /// Whether the held bytes need the lexer: a file of plain ASCII needs none.
    private var needsLexer: Bool {
        heldHigh >= 0x80 || held.count > ContentLimits.held || textStretches || (heldControl && language.isSource)
    }

    /// Looks at the first bytes for what makes a file opaque, and whether it is text.
    private func decide() {
        decided = true
        let head = held.prefix(ContentLimits.binaryProbe)
        // Decoded UTF-16 or UTF-32 is text: its NULs were the high bytes of its code units.
        let binary = encoding == .utf8 && isBinary(head)
        language = FileLanguage(path: path, head: head)
        findings += opaqueContent(path: path, size: size, head: head, binary: binary, options: options)
        textStretches = binary && !language.isSource
    }

    private func startLexer() {
        let lexer = TextLexer(path: path, language: language, textStretches: textStretches,
                              skipsInertLines: skipsInertLines, options: options)
        held.withUnsafeBytes { lexer.feed($0) }
        held = []
        self.lexer = lexer
    }
}

/// Lowercase hex.
func hexDigest(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
    return String(decoding: out, as: UTF8.self)
}

/// Whether a byte is a control character a reader does not see: C0 but tab, line feed, form
/// feed and carriage return (a CR before LF ends a Windows line), and DEL.
@inline(__always)
func isHiddenControl(_ byte: UInt8) -> Bool {
    (byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0C && byte != 0x0D) || byte == 0x7F
}

/// In one branch-free pass: the OR of all bytes (at least 0x80 when one is outside ASCII), and
/// whether one is a hidden control character.
private func byteProfile(_ bytes: UnsafeRawBufferPointer) -> (high: UInt8, control: Bool) {
    var high: UInt8 = 0
    var control: UInt8 = 0
    for byte in bytes {
        high |= byte
        control |= (byte < 0x20 ? 1 : 0) & (byte != 0x09 ? 1 : 0) & (byte != 0x0A ? 1 : 0) & (byte != 0x0C ? 1 : 0)
            & (byte != 0x0D ? 1 : 0) | (byte == 0x7F ? 1 : 0)
    }
    return (high, control != 0)
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

/// The first line longer than `limit`: its number and where its bytes are.
private func firstLongLine(_ content: [UInt8], limit: Int) -> (Int, Range<Int>)? {
    var line = 1
    var start = content.startIndex
    while let end = content[start...].firstIndex(of: 0x0A) {
        if end - start > limit { return (line, start..<end) }
        line += 1
        start = end + 1
    }
    return content.endIndex - start > limit ? (line, start..<content.endIndex) : nil
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
    /// Control characters are findings in source.
    private let reportControls: Bool
    /// Only stretches of text count (a file that looks binary); see `ContentLimits.textStretch`.
    private let textStretches: Bool
    private let inert: [Bool]

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
    private var firstLongLine: (line: Int, bytes: Int, digest: String)?
    private var sawNonASCII = false
    /// Code points read in this line: the column of the last one.
    private var column = 0
    /// The last code point, waiting for the next one (the lexer looks one ahead for `//`, `/*`, `*/`).
    private var pending: UInt32?
    private var context = Context.code
    private var escapedNext = false
    private var open = OpenControls()
    private var contextOpen = OpenControls()
    /// `findings.count` when this line started: the findings after it are about this line.
    private var lineFindings = 0
    /// This line's bytes from earlier chunks (its digest names the text a finding is in), up
    /// to `ContentLimits.lineKept`; past that, they stream into `lineHasher`.
    private var lineCarry: [UInt8] = []
    private var lineHasher: DigestHasher?

    // Stretches of text (in a file that looks binary): where the current one starts.
    private var stretchBytes = 0
    private var stretchColumn = 1
    private var stretchFindings = 0
    private var stretchUnlisted = 0
    private var lineBroken = false

    // Inert lines (a file that looks binary): see `skipInertLines`.
    private let skipsInertLines: Bool
    /// The first two bytes of what makes a line worth lexing.
    private let pairs: [UInt16]
    /// The line so far, not yet lexed (at most `ContentLimits.lineKept` bytes).
    private var unlexed: [UInt8] = []
    /// The line so far was too long to keep: the rest of it goes to the lexer.
    private var lexingLine = false

    // Identifiers.
    private var identifier: [UInt32] = []
    private var identifierColumn = 0
    private var identifierTooLong = false
    private var identifierNonASCII = false
    private var identifiers: [[UInt8]: (line: Int, column: Int)] = [:]
    private var identifierBytes = 0
    private var identifiersDropped = false

    init(path: [UInt8], language: FileLanguage, textStretches: Bool, skipsInertLines: Bool, options: ScanOptions) {
        self.path = path
        self.options = options
        self.textStretches = textStretches
        self.skipsInertLines = textStretches && skipsInertLines
        pairs = options.strict ? Self.strictStretchPairs : Self.stretchPairs
        hashComments = language.hashComments
        // In binary data, words are noise, and so are control bytes and long lines.
        collectIdentifiers = language.isCode && !textStretches
        reportControls = language.isSource && !textStretches
        inert = switch (collectIdentifiers, reportControls) {
        case (true, true): Self.inertInSource
        case (true, false): Self.inertInCode
        case (false, true): Self.inertInSourceText
        case (false, false): Self.inertInText
        }
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        if skipsInertLines { skipInertLines(bytes) } else { lexBytes(bytes) }
    }

    /// The lexer proper: every byte.
    private func lexBytes(_ bytes: UnsafeRawBufferPointer) {
        let inert = self.inert
        var i = 0
        var lineStart = 0
        defer { carryLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart...])) }
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
                breakStretch()
            }
            if byte == 0x0A {
                endLine(tail: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<(i - 1)]))
                lineStart = i
                continue
            }
            lineBytes += 1
            if byte < 0x80 {
                if byte != 0x0D { scalar(UInt32(byte)) }
                continue
            }
            sawNonASCII = true
            startSequence(byte)
            if needed == 0 { breakStretch() }   // a byte no UTF-8 character starts with
        }
    }

    // MARK: Inert lines of a binary-looking file

    /// In a file that looks binary only a bidi control or byte order mark in a stretch of text
    /// is a finding (with --strict, any invisible character too): a line that holds none of
    /// them yields nothing, and, unless it opens a block comment or starts in one, it leaves the
    /// lexer as it found it, one line further on. Such lines are counted, not lexed: a search of
    /// the bytes, in C, for the first two bytes of those characters and of `/*` finds the lines
    /// that are lexed, whole, from their first byte. Random or compressed data has a newline
    /// every few hundred bytes, and one of those pairs in a few thousand lines.
    ///
    /// A line is kept until its end is seen, up to `ContentLimits.lineKept` bytes; the rest of a
    /// longer one is lexed as it comes, so what is kept stays bounded.
    private func skipInertLines(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), !bytes.isEmpty else { return }
        let count = bytes.count
        var i = 0
        if lexingLine || !unlexed.isEmpty {
            // The end of a line begun in an earlier chunk.
            let newline = Self.newline(base, from: 0, to: count)
            let end = newline.map { $0 + 1 } ?? count
            let part = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
            if lexingLine {
                lexBytes(part)
            } else if newline == nil && unlexed.count + end > ContentLimits.lineKept {
                unlexed.withUnsafeBytes { lexBytes($0) }
                unlexed = []
                lexBytes(part)
                lexingLine = true
            } else {
                unlexed.append(contentsOf: part)
                if newline != nil {
                    if isInert(unlexed) { line += 1 } else { unlexed.withUnsafeBytes { lexBytes($0) } }
                    unlexed.removeAll(keepingCapacity: unlexed.capacity <= 4096)
                }
            }
            guard newline != nil else { return }
            lexingLine = false
            i = end
        }
        // Whole lines: up to and with the last newline.
        let last = gb_last_byte(base + i, count - i, 0x0A)
        let end = last < count - i ? i + last + 1 : i
        while i < end {
            var start = i
            if context != .blockComment {
                guard let hit = candidate(base, from: i, to: end) else {
                    line += gb_count_byte(base + i, end - i, 0x0A)
                    i = end
                    break
                }
                let before = gb_last_byte(base + i, hit - i, 0x0A)
                if before < hit - i { start = i + before + 1 }
                line += gb_count_byte(base + i, start - i, 0x0A)
            }
            // A line that may hold a finding, or that starts in a block comment: lexed whole.
            let lineEnd = Self.newline(base, from: max(start, i), to: end)! + 1
            lexBytes(UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd]))
            i = lineEnd
        }
        guard i < count else { return }
        if count - i > ContentLimits.lineKept {
            lexBytes(UnsafeRawBufferPointer(rebasing: bytes[i...]))
            lexingLine = true
        } else {
            unlexed.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i...]))
        }
    }

    /// The index of the first newline in `base[start..<end]`.
    private static func newline(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int? {
        guard start < end, let found = memchr(base + start, 0x0A, end - start) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// Whether a line (with its newline, or the last one without) leaves the lexer as it found
    /// it but one line on, having found nothing.
    private func isInert(_ line: [UInt8]) -> Bool {
        context != .blockComment && line.withUnsafeBufferPointer { candidate($0.baseAddress!, from: 0, to: $0.count) } == nil
    }

    /// The first place in `base[start..<end]` where a character a rule reports in a stretch of
    /// text may start, or `/*` (with carriage returns between, which the lexer does not see).
    /// A pair the C search finds is decoded here, and passed over when it starts no such
    /// character; a character cut off at `end` counts.
    private func candidate(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int? {
        var i = start
        while i < end {
            i += pairs.withUnsafeBufferPointer { gb_find_pair(base + i, end - i, $0.baseAddress, $0.count) }
            if i >= end { return nil }
            if base[i] == 0x2F {
                // `/` then `*`, carriage returns between (or cut off at `end`), opens a comment.
                var next = i + 1
                while next < end && base[next] == 0x0D { next += 1 }
                if next == end || base[next] == 0x2A { return i }
                i += 1
                continue
            }
            guard let v = Self.decode(base, at: i, end: end) else { return i }
            if Self.isStretchFinding(v, strict: options.strict) { return i }
            i += 1
        }
        return nil
    }

    /// The code point whose UTF-8 starts at `base[i]`; nil when it runs past `end`; 0 when
    /// the bytes are no UTF-8 (no character starts there, so no rule sees one).
    private static func decode(_ base: UnsafePointer<UInt8>, at i: Int, end: Int) -> UInt32? {
        let lead = base[i]
        let (needed, low, high) = utf8Sequence(lead: lead)
        if needed == 0 { return 0 }
        var value = UInt32(lead) & (0x7F >> UInt32(needed + 1))
        for k in 1...needed {
            guard i + k < end else { return nil }
            let byte = base[i + k]
            if k == 1 ? !(low...high).contains(byte) : !(0x80...0xBF).contains(byte) { return 0 }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return value
    }

    /// What `unicodeRules` acts on in a stretch of text: bidi controls that open or close
    /// (marks only with --strict, which reports each), the byte order mark, and with --strict
    /// every invisible character.
    private static func isStretchFinding(_ v: UInt32, strict: Bool) -> Bool {
        if let kind = UnicodeTables.bidiControlKind(v) { return strict || kind != .mark }
        return v == 0xFEFF || (strict && UnicodeTables.isDefaultIgnorable(v))
    }

    /// The first two UTF-8 bytes of every such character, and `/*` and `/` before a carriage
    /// return: the pairs the C search looks for (5 of them; 18 with --strict).
    private static func pairs(strict: Bool) -> [UInt16] {
        var set: Set<UInt16> = [0x2F2A, 0x2F0D]
        var scalars = (0x80...0xFFFF).filter { isStretchFinding(UInt32($0), strict: strict) }.map(UInt32.init)
        if strict {
            let ranges = UnicodeTables.defaultIgnorableRanges
            for k in stride(from: 0, to: ranges.count, by: 2) where ranges[k + 1] > 0xFFFF {
                scalars += Array(max(ranges[k], 0x10000)...ranges[k + 1])
            }
        }
        for v in scalars {
            guard let scalar = Unicode.Scalar(v) else { continue }
            let bytes = Array(String(scalar).utf8)
            set.insert(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        }
        return set.sorted()
    }
    private static let stretchPairs = pairs(strict: false)
    private static let strictStretchPairs = pairs(strict: true)

    /// Keeps the bytes of the line still going at the end of a chunk, for its digest.
    private func carryLine(_ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { return }
        if let lineHasher {
            lineHasher.update(bytes.baseAddress!, count: bytes.count)
        } else if lineCarry.count + bytes.count > ContentLimits.lineKept {
            let hasher = DigestHasher()
            hasher.update(lineCarry)
            hasher.update(bytes.baseAddress!, count: bytes.count)
            lineCarry = []
            lineHasher = hasher
        } else {
            lineCarry.append(contentsOf: bytes)
        }
    }

    /// SHA-256 of the line that ends with `tail` (its bytes without the LF), in hex.
    private func lineDigest(_ tail: UnsafeRawBufferPointer) -> String {
        if let lineHasher {
            if !tail.isEmpty { lineHasher.update(tail.baseAddress!, count: tail.count) }
            return hexDigest(lineHasher.finish())
        }
        if lineCarry.isEmpty { return hexDigest(SHA256.hash(tail)) }
        let hasher = DigestHasher()
        hasher.update(lineCarry)
        if !tail.isEmpty { hasher.update(tail.baseAddress!, count: tail.count) }
        return hexDigest(hasher.finish())
    }

    /// A byte that is not UTF-8 ends a stretch of text: in a file that looks binary, a stretch
    /// shorter than `ContentLimits.textStretch` that is not a whole line is dropped with what
    /// was found in it. `lineEnd`: the line ends here (a whole unbroken line is text).
    private func breakStretch(lineEnd: Bool = false) {
        guard textStretches else { return }
        if let previous = pending {
            pending = nil
            _ = lex(previous, column: column, next: nil)
        }
        let whole = lineEnd && !lineBroken
        if !whole && lineBytes - stretchBytes < ContentLimits.textStretch {
            if findings.count > stretchFindings { findings.removeSubrange(stretchFindings...) }
            unlisted = stretchUnlisted
            if let current = run, current.finding.column! >= stretchColumn { run = nil }
            // Most stretches of a binary file hold no control: nothing to copy then.
            if !open.list.isEmpty { open.list.removeAll { $0.column >= stretchColumn } }
            if !contextOpen.list.isEmpty { contextOpen.list.removeAll { $0.column >= stretchColumn } }
            if let overflow = open.overflowColumn, overflow >= stretchColumn { open.overflowColumn = nil }
            if let overflow = contextOpen.overflowColumn, overflow >= stretchColumn { contextOpen.overflowColumn = nil }
        }
        if !lineEnd {
            // What follows is read as code again: binary bytes are no string or comment.
            flushRun()
            lineBroken = true
            context = .code
            escapedNext = false
        }
        stretchBytes = lineBytes
        stretchColumn = column + 1
        stretchFindings = findings.count
        stretchUnlisted = unlisted
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
    /// In source, control characters are findings, so the lexer sees each.
    private static let inertInSourceText: [Bool] = (0...255).map { inertInText[$0] && !isHiddenControl(UInt8($0)) }
    private static let inertInSource: [Bool] = (0...255).map { inertInCode[$0] && !isHiddenControl(UInt8($0)) }

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
        if !unlexed.isEmpty {
            if !isInert(unlexed) { unlexed.withUnsafeBytes { lexBytes($0) } }
            unlexed = []
        }
        if needed > 0 {
            needed = 0
            breakStretch()
        }
        endLine(tail: UnsafeRawBufferPointer(start: nil, count: 0))
        // Long lines matter in source files (minified code), and in any file with text beyond
        // ASCII; an all-ASCII data file may be one long line. Binary data has no lines.
        if let (line, bytes, digest) = firstLongLine, (sawNonASCII || collectIdentifiers) && !textStretches {
            var finding = ScanFinding("long-lines", .note, path: path, line: line,
                                      "a line of \(bytes) bytes: minified or generated code is hard to review")
            finding.lineDigest = digest
            add(finding)
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

    /// `tail`: the line's bytes in the chunk that ends it (its earlier ones are in `lineCarry`).
    private func endLine(tail: UnsafeRawBufferPointer) {
        if let previous = pending {
            pending = nil
            _ = lex(previous, column: column, next: nil)
        }
        breakStretch(lineEnd: true)
        endIdentifier()
        flushRun()
        reportOpen(open, "a line")
        // Each finding about this line names its text, so triage tells one line from another.
        let long = lineBytes > options.longLineBytes && firstLongLine == nil
        if findings.count > lineFindings || long {
            let digest = lineDigest(tail)
            for index in lineFindings..<findings.count { findings[index].lineDigest = digest }
            if long { firstLongLine = (line, lineBytes, digest) }
        }
        lineCarry.removeAll(keepingCapacity: lineCarry.capacity <= 4096)
        lineHasher = nil
        lineFindings = findings.count
        stretchBytes = 0
        stretchColumn = 1
        stretchFindings = findings.count
        stretchUnlisted = unlisted
        lineBroken = false
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
        else if reportControls && v < 0x80 && isHiddenControl(UInt8(v)) {
            addToRun("control-character", .error, v, column: column,
                     v == 0 ? "a NUL byte, which editors hide or stop at while compilers and shells read past it"
                            : "a control character, which a reader does not see and the compiler or shell reads",
                     "control characters, which a reader does not see and the compiler or shell reads")
        }
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

    /// Bidi controls, byte order marks and invisible characters (none of them is ASCII). In a
    /// stretch of text only those `isStretchFinding` names may change what is found: keep the
    /// two in step.
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

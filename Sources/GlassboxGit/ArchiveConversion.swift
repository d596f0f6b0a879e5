/// The byte conversions `git archive` applies to a regular file, in git's order: `ident`, then
/// line endings (both from git's convert.c, towards the work tree), then `export-subst`
/// (archive.c). Pure functions of the stored bytes and the commit, so they can be read and
/// tested apart from libgit2.
enum ArchiveConversion {
    /// git's `ident_to_worktree`: every `$Id$`, and every `$Id:…$` on one line with no space
    /// before its last character, becomes `$Id: <blob id> $`.
    static func expandIdent(_ src: [UInt8], blobId: String) -> [UInt8] {
        let dollar = UInt8(ascii: "$")
        let replacement = Array("Id: \(blobId) $".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var i = 0
        while let found = src[i...].firstIndex(of: dollar) {
            out += src[i...found]
            i = found + 1
            guard src.count - i >= 3, src[i] == UInt8(ascii: "I"), src[i + 1] == UInt8(ascii: "d") else { continue }
            if src[i + 2] == dollar {
                i += 3
            } else if src[i + 2] == UInt8(ascii: ":") {
                // An id expanded before ("$Id: … $") is expanded again; one from another
                // version-control system (spaces inside, or no closing '$' on the line) is kept.
                guard let close = src[(i + 3)...].firstIndex(of: dollar) else { break }
                if src[(i + 3)..<close].contains(UInt8(ascii: "\n")) { continue }
                if i + 4 < close, let space = src[(i + 4)..<close].firstIndex(of: UInt8(ascii: " ")), space < close - 1 {
                    continue
                }
                i = close + 1
            } else {
                continue
            }
            out += replacement
        }
        out += src[i...]
        return out
    }

    /// git's `crlf_to_worktree`: every LF not already after a CR becomes CRLF, unless there is
    /// no such LF or, for `text=auto`, the content has a CR or does not look like text.
    static func convertLineEndings(_ src: [UInt8], _ output: LineEndingOutput) -> [UInt8] {
        guard output != .unchanged, !src.isEmpty else { return src }
        let stats = TextStats(src)
        guard stats.loneLF > 0 else { return src }
        if output == .crlfIfText && (stats.loneCR > 0 || stats.crlf > 0 || stats.looksBinary) { return src }
        var out: [UInt8] = []
        out.reserveCapacity(src.count + stats.loneLF)
        var previous: UInt8 = 0
        for byte in src {
            if byte == 0x0A && previous != 0x0D { out.append(0x0D) }
            out.append(byte)
            previous = byte
        }
        return out
    }

    /// git's `gather_stats` and `convert_is_binary`.
    struct TextStats {
        var loneCR = 0, loneLF = 0, crlf = 0, nul = 0, printable = 0, nonPrintable = 0

        init(_ bytes: [UInt8]) {
            var i = 0
            while i < bytes.count {
                let c = bytes[i]
                i += 1
                switch c {
                case 0x0D:
                    if i < bytes.count && bytes[i] == 0x0A { crlf += 1; i += 1 } else { loneCR += 1 }
                case 0x0A: loneLF += 1
                case 0x7F: nonPrintable += 1
                case 0x08, 0x09, 0x1B, 0x0C: printable += 1   // BS, HT, ESC, FF
                case 0: nul += 1; nonPrintable += 1
                case ..<0x20: nonPrintable += 1
                default: printable += 1
                }
            }
            // A trailing ^Z (an old DOS end-of-file mark) does not count against text.
            if bytes.last == 0x1A { nonPrintable -= 1 }
        }

        var looksBinary: Bool { loneCR > 0 || nul > 0 || (printable >> 7) < nonPrintable }
    }

    /// archive.c's `format_subst`: each `$Format:…$` is replaced by the format's expansion for
    /// the commit; a `$Format:` with no closing `$` is left as it is.
    /// - Throws: `GitError` naming `path` and the placeholder for anything `CommitFormat` does
    ///   not expand exactly as git does, or when the expansion would grow the file by more than
    ///   `maximumGrowth` bytes (a file of many `$Format:%D$` in a repository of many refs).
    static func expandSubst(_ src: [UInt8], path: [UInt8], commit: CommitFormat) throws -> [UInt8] {
        let marker = Array("$Format:".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var i = 0
        while let start = firstIndex(of: marker, in: src, from: i),
              let close = src[(start + marker.count)...].firstIndex(of: UInt8(ascii: "$")) {
            out += src[i..<start]
            out += try commit.expand(Array(src[(start + marker.count)..<close]), path: path)
            i = close + 1
            if out.count > i + maximumGrowth {
                throw GitError("export-subst", "'\(messagePath(path))'",
                               message: "expanding $Format$ in \(messagePath(path)) would add more than \(maximumGrowth >> 20) MiB")
            }
        }
        out += src[i...]
        return out
    }

    /// How many bytes `export-subst` may add to one file.
    static let maximumGrowth = 256 << 20

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            guard let first = haystack[i...(haystack.count - needle.count)].firstIndex(of: needle[0]) else { return nil }
            if haystack[first..<(first + needle.count)].elementsEqual(needle) { return first }
            i = first + 1
        }
        return nil
    }
}

/// The values of the `$Format:…$` placeholders archive mode expands for one commit, computed
/// once before any file is read. Everything else is refused by name, never written differently.
struct CommitFormat: Sendable {
    /// Placeholder (without `%`) → its bytes.
    var values: [String: [UInt8]]
    /// Placeholder → why it cannot be expanded exactly for this repository.
    var problems: [String: String]

    /// Expands one format string, git's pretty-format syntax.
    /// - Throws: `GitError` "unsupported placeholder %X in $Format$ in PATH" for a placeholder,
    ///   modifier or byte (NUL) archive mode does not reproduce.
    func expand(_ format: [UInt8], path: [UInt8]) throws -> [UInt8] {
        func refuse(_ placeholder: [UInt8], _ why: String = "archive mode does not reproduce it") -> GitError {
            GitError("export-subst", "'\(messagePath(path))'",
                     message: "unsupported placeholder \(Escaping.escape(placeholder)) in $Format$ in \(messagePath(path)): \(why)")
        }
        if format.contains(0) { throw refuse(Array("NUL".utf8), "git stops the format at a NUL byte") }
        var out: [UInt8] = []
        var i = 0
        while i < format.count {
            let byte = format[i]
            guard byte == UInt8(ascii: "%") else {
                out.append(byte)
                i += 1
                continue
            }
            let first = i + 1 < format.count ? format[i + 1] : nil
            let long = first == UInt8(ascii: "a") || first == UInt8(ascii: "c")
            let length = long ? 2 : 1
            guard i + length < format.count else { throw refuse(Array(format[i...])) }
            let key = String(decoding: format[(i + 1)...(i + length)], as: UTF8.self)
            if let why = problems[key] { throw refuse(Array(format[i...(i + length)]), why) }
            guard let value = values[key] else { throw refuse(Array(format[i...(i + length)])) }
            out += value
            i += length + 1
        }
        return out
    }
}

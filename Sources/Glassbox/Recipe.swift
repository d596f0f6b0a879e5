import GlassboxGit

/// A build recipe: how to rebuild a release's artifacts from its signed tree. It is a file in
/// the tree, so the Merkle root covers it, and the manifest's `recipe PATH` line names it.
/// See `Manifests/FORMAT.md` § Build recipes.
public struct Recipe: Sendable, Equatable {
    /// The first line, exactly.
    public static let formatLine = "glassbox-recipe v1"
    /// The largest recipe read, in bytes: a recipe is a page of text, not a build system.
    public static let maxSize = 64 << 10
    /// The most `run` lines, `requires` lines and artifacts each.
    public static let maxItems = 1000

    /// A Debian package and the exact version the build needs.
    public struct Requirement: Sendable, Equatable {
        public var package: String
        public var version: String
        /// The recipe line that asked for it, for messages.
        public var line: Int
    }

    /// A shell command line, run by `/bin/sh -e -c`.
    public struct Command: Sendable, Equatable {
        public var text: String
        public var line: Int
    }

    public var requires: [Requirement]
    public var commands: [Command]
    /// The files the build writes to `$OUT`, each a release path, unique, in recipe order.
    public var artifacts: [[UInt8]]
    /// The line of each artifact, for messages.
    public var artifactLines: [[UInt8]: Int]
    /// `SOURCE_DATE_EPOCH` when the recipe fixes it; otherwise the signed commit's time is used.
    public var sourceDateEpoch: UInt64?

    /// Parses a recipe strictly.
    /// - Throws: `FormatError` naming the line: a missing or wrong first line, an unknown
    ///   keyword, a bad package name or version, a duplicate artifact, an artifact name that is
    ///   not a release path, a CR or another control character (TAB aside), a bidi control or
    ///   invisible character, text that is not UTF-8, a file over `maxSize` or without a final newline, no `run` or no `artifact` line.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= Recipe.maxSize else {
            throw FormatError(line: nil, "the recipe is \(bytes.count) bytes; at most \(Recipe.maxSize) are read")
        }
        guard bytes.last == 0x0A else { throw FormatError(line: nil, "the recipe does not end with a newline") }
        requires = []
        commands = []
        artifacts = []
        artifactLines = [:]
        var lineNumber = 0
        var sawFormat = false
        for raw in bytes.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if raw.contains(0x0D) { throw FormatError(line: lineNumber, "the line contains a carriage return (CR)") }
            guard let line = String(validating: raw, as: UTF8.self) else {
                throw FormatError(line: lineNumber, "the line is not UTF-8")
            }
            // A TAB is ordinary in a shell line; every other control character is hidden text.
            if line.unicodeScalars.contains(where: { $0 != "\t" && isControl($0) }) {
                throw FormatError(line: lineNumber, "the line contains a control character")
            }
            // A bidi control or an invisible character would make a run line read as another
            // command than the shell runs.
            if let hidden = line.unicodeScalars.first(where: { $0 != "\t" && Display.isUnsafe($0) }) {
                throw FormatError(line: lineNumber, "the line contains U+\(String(hidden.value, radix: 16, uppercase: true)), a bidi control or invisible character")
            }
            if !sawFormat {
                guard line == Recipe.formatLine else {
                    throw FormatError(line: lineNumber, "expected '\(Recipe.formatLine)'")
                }
                sawFormat = true
                continue
            }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let keyword = trimmed.prefix { $0 != " " }
            let value = String(trimmed.dropFirst(keyword.count).drop { $0 == " " })
            switch keyword {
            case "requires":
                let fields = value.split(separator: " ")
                guard fields.count == 2 else {
                    throw FormatError(line: lineNumber, "expected 'requires PACKAGE VERSION'")
                }
                guard Recipe.isPackageName(fields[0]) else {
                    throw FormatError(line: lineNumber, "'\(fields[0])' is not a Debian package name")
                }
                guard Recipe.isVersion(fields[1]) else {
                    throw FormatError(line: lineNumber, "'\(fields[1])' is not a Debian version")
                }
                guard !requires.contains(where: { $0.package == fields[0] }) else {
                    throw FormatError(line: lineNumber, "package '\(fields[0])' is required twice")
                }
                requires.append(Requirement(package: String(fields[0]), version: String(fields[1]), line: lineNumber))
            case "run":
                guard !value.isEmpty else { throw FormatError(line: lineNumber, "a 'run' line needs a command") }
                commands.append(Command(text: value, line: lineNumber))
            case "artifact":
                let name = Array(value.utf8)
                // One spelling only: the escaped form of the raw name is the name itself.
                guard pathProblem(name) == nil, Escaping.escape(name) == value else {
                    throw FormatError(line: lineNumber, "'\(value)' is not a relative release path")
                }
                guard !artifacts.contains(name) else {
                    throw FormatError(line: lineNumber, "artifact '\(value)' is listed twice")
                }
                artifacts.append(name)
                artifactLines[name] = lineNumber
            case "source-date-epoch":
                guard sourceDateEpoch == nil else {
                    throw FormatError(line: lineNumber, "'source-date-epoch' is given twice")
                }
                guard let epoch = parseDecimal(Array(value.utf8)), epoch <= UInt64(Int64.max) else {
                    throw FormatError(line: lineNumber, "expected 'source-date-epoch SECONDS', a decimal number")
                }
                sourceDateEpoch = epoch
            default:
                throw FormatError(line: lineNumber, "unknown line '\(keyword)' (expected requires, run, artifact or source-date-epoch)")
            }
            if requires.count > Recipe.maxItems || commands.count > Recipe.maxItems || artifacts.count > Recipe.maxItems {
                throw FormatError(line: lineNumber, "more than \(Recipe.maxItems) lines of one kind")
            }
        }
        guard sawFormat else { throw FormatError(line: 1, "expected '\(Recipe.formatLine)'") }
        guard !commands.isEmpty else { throw FormatError(line: nil, "the recipe has no 'run' line") }
        guard !artifacts.isEmpty else { throw FormatError(line: nil, "the recipe has no 'artifact' line") }
    }

    /// Debian policy §5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two characters,
    /// starting with a letter or digit. An architecture qualifier (`:amd64`) is allowed.
    static func isPackageName(_ name: Substring) -> Bool {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let base = parts.first, base.count >= 2, base.count <= 128 else { return false }
        let allowed = { (c: Character) in c.isASCII && (c.isLowercase || c.isNumber || "+-.".contains(c)) }
        guard base.allSatisfy(allowed), base.first!.isASCII, base.first!.isLetter || base.first!.isNumber else { return false }
        if parts.count == 2 {
            return !parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
        }
        return true
    }

    /// Debian policy §5.6.12: `[epoch:]upstream[-revision]`; the epoch is digits, the upstream
    /// version starts with a digit, and only letters, digits and `.+~-:` appear.
    static func isVersion(_ version: Substring) -> Bool {
        guard !version.isEmpty, version.count <= 256,
              version.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".+~-:".contains($0)) }) else { return false }
        var upstream = version
        if let colon = version.firstIndex(of: ":") {
            let epoch = version[..<colon]
            guard !epoch.isEmpty, epoch.allSatisfy(\.isNumber) else { return false }
            upstream = version[version.index(after: colon)...]
        }
        if upstream.last == "-" { return false }
        return upstream.first?.isNumber == true
    }
}

/// Keeps the bytes of one file as a tree reader shows them (up to one byte past
/// `Recipe.maxSize`, so an oversized recipe is still refused by the parser).
public final class RecipeGatherer: @unchecked Sendable {
    private let path: [UInt8]
    /// The file's bytes, once the reader has shown them.
    public private(set) var bytes: [UInt8]?

    public init(path: [UInt8]) { self.path = path }

    /// The sink for `visit`, when it is the wanted file.
    public func sink(for visit: ContentVisit) -> (any ContentSink)? {
        visit.kind.isRegularFile && visit.path == path ? Sink(self) : nil
    }

    private final class Sink: ContentSink {
        let owner: RecipeGatherer
        var bytes: [UInt8] = []
        init(_ owner: RecipeGatherer) { self.owner = owner }
        func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
            bytes.append(contentsOf: chunk.prefix(Recipe.maxSize + 1 - bytes.count))
            return bytes.count <= Recipe.maxSize
        }
        func finish() { owner.bytes = bytes }
    }
}

import CGit2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Builds the `$Format:…$` values for the archived commit the way `git archive` (git 2.39)
/// prints them: its own pretty-format code, default date format, automatic abbreviation, and
/// decorations from every ref of the repository.
///
/// Some values depend on the repository a reviewer holds rather than on the commit: `%d`/`%D`
/// list the refs pointing at the commit in *this* repository, and `%h`/`%t`/`%p` are as long as
/// this repository's object count and prefixes demand. They match `git archive` run here, not
/// necessarily the vendor's.
enum CommitFormatBuilder {
    static func build(repository: GitRepositoryHandle, objects: GitObjectDatabase, commit: git_oid,
                      config: GitSettings) throws -> CommitFormat {
        let commitHex = hexString(commit)
        let raw = try objects.readVerified(commit, GIT_OBJECT_COMMIT, what: "commit \(commitHex)").bytes
        let parsed = ParsedCommit(raw)
        guard let gitPath = git_repository_path(repository.pointer) else {
            throw GitError("git_repository_path", repository.path)
        }
        let gitDirectory = String(cString: gitPath)
        let shallow = try shallowCommits(gitDirectory)
        let isGrafted = shallow.contains(commitHex)
        // A shallow clone's boundary commit is parentless to git, whatever its object says.
        let parents = isGrafted ? [] : parsed.parents

        var values: [String: [UInt8]] = ["n": [0x0A], "%": [UInt8(ascii: "%")]]
        var problems: [String: String] = [:]
        values["H"] = Array(commitHex.utf8)
        values["T"] = parsed.tree
        values["P"] = Array(parents.joined(separator: [0x20]))
        do {
            let abbreviator = try Abbreviator(objects: objects, gitDirectory: gitDirectory, config: config)
            values["h"] = try abbreviator.abbreviate(Array(commitHex.utf8))
            values["t"] = try abbreviator.abbreviate(parsed.tree)
            values["p"] = try Array(parents.map { try abbreviator.abbreviate($0) }.joined(separator: [0x20]))
        } catch let error as GitError {
            for key in ["h", "t", "p"] { problems[key] = error.message }
        }
        for (letter, ident) in [("a", parsed.author), ("c", parsed.committer)] {
            guard let ident, let person = PersonIdent(ident) else {
                for part in ["n", "e", "d", "D", "I", "t"] { problems[letter + part] = "the commit's ident line is malformed" }
                continue
            }
            values[letter + "n"] = person.name
            values[letter + "e"] = person.email
            values[letter + "t"] = person.timestamp
            if let date = GitDate(timestamp: person.timestamp, zone: person.zone) {
                values[letter + "d"] = Array(date.normal.utf8)
                values[letter + "D"] = Array(date.rfc2822.utf8)
                values[letter + "I"] = Array(date.strictISO8601.utf8)
            } else {
                for part in ["d", "D", "I"] { problems[letter + part] = "the commit's date is out of range" }
            }
        }
        values["s"] = parsed.subject
        if let encoding = parsed.encoding, !["utf-8", "utf8"].contains(String(decoding: encoding, as: UTF8.self).lowercased()) {
            // git would re-encode the message and names to UTF-8 first.
            for key in ["s", "an", "ae", "cn", "ce"] { problems[key] = "the commit is in another encoding" }
        }
        let decorations = try Decorations(repository: repository, objects: objects, commit: commitHex, grafted: isGrafted)
        values["D"] = decorations.text
        values["d"] = decorations.text.isEmpty ? [] : Array(" (".utf8) + decorations.text + Array(")".utf8)
        return CommitFormat(values: values, problems: problems)
    }

    /// The commit ids in `$GIT_DIR/shallow`, which git treats as having no parents.
    private static func shallowCommits(_ gitDirectory: String) throws -> Set<String> {
        guard let text = try readSmallFile(gitDirectory + "shallow") else { return [] }
        return Set(text.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) })
    }
}

/// A commit object's header fields and subject, as git's pretty.c reads them.
struct ParsedCommit {
    var tree: [UInt8] = []
    var parents: [[UInt8]] = []
    var author: [UInt8]?
    var committer: [UInt8]?
    var encoding: [UInt8]?
    var subject: [UInt8] = []

    init(_ raw: [UInt8]) {
        // git reads the commit as a C string: nothing after a NUL exists for it.
        let bytes = raw.firstIndex(of: 0).map { Array(raw[..<$0]) } ?? raw
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)[...]
        var inParents = true
        while let line = lines.popFirst(), !line.isEmpty {
            if line.starts(with: Array("tree ".utf8)) && tree.isEmpty {
                tree = Array(line.dropFirst(5))
            } else if inParents && line.starts(with: Array("parent ".utf8)) {
                parents.append(Array(line.dropFirst(7)))
            } else {
                if !tree.isEmpty { inParents = false }
                // The last author and committer lines win, as in git's parse_commit_header.
                if line.starts(with: Array("author ".utf8)) { author = Array(line.dropFirst(7)) }
                if line.starts(with: Array("committer ".utf8)) { committer = Array(line.dropFirst(10)) }
                if line.starts(with: Array("encoding ".utf8)) { encoding = Array(line.dropFirst(9)) }
            }
        }
        // The subject: blank lines skipped, then the first paragraph's lines, each without its
        // trailing white space, joined by single spaces.
        var paragraph: [ArraySlice<UInt8>] = []
        while let line = lines.popFirst() {
            let trimmed = trimTrailingSpace(line)
            if trimmed.isEmpty {
                if paragraph.isEmpty { continue } else { break }
            }
            paragraph.append(trimmed)
        }
        subject = Array(paragraph.joined(separator: [0x20]))
    }
}

/// git's white space for trimming (its own ctype): space, tab, LF, CR.
private func trimTrailingSpace(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var end = line.endIndex
    while end > line.startIndex, [0x20, 0x09, 0x0A, 0x0D].contains(line[end - 1]) { end -= 1 }
    return line[line.startIndex..<end]
}

/// An ident line, split as git's `split_ident_line` splits it:
/// `Name <email> 1700000000 +0100`.
struct PersonIdent {
    var name: [UInt8]
    var email: [UInt8]
    var timestamp: [UInt8]
    var zone: [UInt8]

    init?(_ line: [UInt8]) {
        let spaces: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        guard let open = line.firstIndex(of: UInt8(ascii: "<")),
              let close = line[open...].firstIndex(of: UInt8(ascii: ">")),
              let lastClose = line.lastIndex(of: UInt8(ascii: ">")) else { return nil }
        var nameEnd = open
        while nameEnd > 0, spaces.contains(line[nameEnd - 1]) { nameEnd -= 1 }
        name = Array(line[..<nameEnd])
        email = Array(line[(open + 1)..<close])
        var i = lastClose + 1
        while i < line.count, spaces.contains(line[i]) { i += 1 }
        let dateStart = i
        while i < line.count, (0x30...0x39).contains(line[i]) { i += 1 }
        guard i > dateStart else { return nil }
        timestamp = Array(line[dateStart..<i])
        while i < line.count, spaces.contains(line[i]) { i += 1 }
        guard i < line.count, line[i] == UInt8(ascii: "+") || line[i] == UInt8(ascii: "-") else { return nil }
        let zoneStart = i
        i += 1
        while i < line.count, (0x30...0x39).contains(line[i]) { i += 1 }
        guard i > zoneStart + 1 else { return nil }
        zone = Array(line[zoneStart..<i])
    }
}

/// A date in git's formats, in the ident's own zone.
struct GitDate {
    var normal: String
    var rfc2822: String
    var strictISO8601: String

    /// nil when the values are past what this code formats (years after 9999, zones past ±99:59
    /// written oddly); the caller refuses the placeholder then.
    init?(timestamp: [UInt8], zone: [UInt8]) {
        guard timestamp.count <= 12, let seconds = Int64(String(decoding: timestamp, as: UTF8.self)),
              zone.count == 5, let tz = Int(String(decoding: zone, as: UTF8.self)) else { return nil }
        let magnitude = abs(tz)
        let offset = Int64((magnitude / 100) * 60 + magnitude % 100) * 60 * (tz < 0 ? -1 : 1)
        let local = seconds + offset
        guard local >= 0, local < 253_402_300_800 else { return nil }   // 1970 … 9999
        let days = local / 86_400
        let secondOfDay = Int(local % 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = Int((days + 4) % 7)   // 1970-01-01 was a Thursday
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let time = "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
        let sign = tz < 0 ? "-" : "+"
        let zoneText = sign + String(repeating: "0", count: max(0, 4 - String(magnitude).count)) + String(magnitude)
        normal = "\(weekdays[weekday]) \(months[month - 1]) \(day) \(time) \(year) \(zoneText)"
        rfc2822 = "\(weekdays[weekday]), \(day) \(months[month - 1]) \(year) \(time) \(zoneText)"
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        strictISO8601 = "\(yearText)-\(two(month))-\(two(day))T\(time)\(sign)\(two(magnitude / 100)):\(two(magnitude % 100))"
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (days ≥ 0).
private func civilDate(daysSince1970 days: Int64) -> (year: Int, month: Int, day: Int) {
    let z = days + 719_468
    let era = z / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (Int(year), Int(month), Int(day))
}

/// git's automatic abbreviation: as many hex digits as the packed object count suggests (at
/// least 7), then more until no other object in the repository shares the prefix.
struct Abbreviator {
    let objects: GitObjectDatabase
    let length: Int

    /// - Throws: `GitError` when this repository's settings would make git count differently
    ///   (`core.abbrev` set, alternates, a multi-pack index), rather than print another length.
    init(objects: GitObjectDatabase, gitDirectory: String, config: GitSettings) throws {
        self.objects = objects
        let objectsDirectory = gitDirectory + "objects"
        if let abbrev = config.values("core.abbrev").first {
            throw GitError("export-subst", gitDirectory, message: "core.abbrev is set in \(abbrev.origin)")
        }
        let manager = FileManager.default
        if manager.fileExists(atPath: objectsDirectory + "/info/alternates")
            || manager.fileExists(atPath: objectsDirectory + "/pack/multi-pack-index") {
            throw GitError("export-subst", gitDirectory,
                           message: "the repository uses alternates or a multi-pack index, which change git's abbreviation length")
        }
        var count: UInt64 = 0
        let names = (try? manager.contentsOfDirectory(atPath: objectsDirectory + "/pack")) ?? []
        for name in names where name.hasSuffix(".idx") {
            if let pack = PackFacts(path: objectsDirectory + "/pack/" + name.dropLast(4) + ".pack") {
                count += UInt64(pack.objectCount)
            }
        }
        var bits = 1   // the highest set bit's position, plus one
        while count >> UInt64(bits) != 0 { bits += 1 }
        length = max(7, (bits + 1) / 2)
    }

    /// The shortest unique prefix of `hex` of at least `length` digits.
    func abbreviate(_ hex: [UInt8]) throws -> [UInt8] {
        var oid = git_oid()
        guard hex.count == 40, git_oid_fromstrn(&oid, String(decoding: hex, as: UTF8.self), 40) == 0 else {
            throw GitError("git_oid_fromstrn", "abbreviating '\(Escaping.escape(hex))'", message: "not an object id")
        }
        var digits = length
        while digits < 40 {
            var found = git_oid()
            var short = oid
            let status = git_odb_exists_prefix(&found, objects.pointer, &short, digits)
            if status != GIT_EAMBIGUOUS.rawValue { break }
            digits += 1
        }
        return Array(hex.prefix(digits))
    }
}

/// What git's `%D` shows: the refs pointing at the commit, newest-inserted first (git adds each
/// ref in sorted order, then HEAD, then "grafted", and shows the list in reverse), with
/// "HEAD -> branch" when HEAD is a branch at the commit. Ref names are kept as bytes.
struct Decorations {
    var text: [UInt8]

    /// - Throws: `GitError` when a ref under `refs/replace/` exists (`git archive` would read
    ///   the replacement objects, which archive mode does not), or the refs cannot be listed.
    init(repository: GitRepositoryHandle, objects: GitObjectDatabase, commit: String, grafted: Bool) throws {
        enum Kind { case local, remote, tag, stash, head, other, grafted }
        var added: [(kind: Kind, name: [UInt8], full: [UInt8])] = []
        for (name, target) in try allRefs(repository, objects).sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            if name.starts(with: Array("refs/replace/".utf8)) {
                throw GitError("git_reference_next", repository.path,
                               message: "\(Escaping.escape(name)) replaces an object; git archive would read the replacement")
            }
            let kind: Kind = name.starts(with: Array("refs/heads/".utf8)) ? .local
                : name.starts(with: Array("refs/remotes/".utf8)) ? .remote
                : name.starts(with: Array("refs/tags/".utf8)) ? .tag
                : name == Array("refs/stash".utf8) ? .stash : .other
            let short = shortRefName(name)
            var object = target
            if object == commit { added.append((kind, short, name)) }
            // A tag decorates what it points at, down to the commit, as a tag.
            var hops = 0
            while hops < 64, let tagged = tagTarget(objects, object) {
                object = tagged
                hops += 1
                if object == commit { added.append((.tag, short, name)) }
            }
        }
        var headBranch: [UInt8]?
        if let head = headRef(repository, objects) {
            if head.target == commit { added.append((.head, Array("HEAD".utf8), Array("HEAD".utf8))) }
            headBranch = head.branch
        }
        if grafted { added.append((.grafted, Array("grafted".utf8), [])) }
        let shown = Array(added.reversed())
        let current = shown.contains { $0.kind == .head }
            ? shown.first { $0.kind == .local && $0.full == headBranch } : nil
        var items: [[UInt8]] = []
        for item in shown where !(item.kind == .local && item.full == current?.full) {
            var text = (item.kind == .tag ? Array("tag: ".utf8) : []) + item.name
            if item.kind == .head, let current { text += Array(" -> ".utf8) + current.name }
            items.append(text)
        }
        text = Array(items.joined(separator: Array(", ".utf8)))
    }
}

/// git's `prettify_refname`.
private func shortRefName(_ name: [UInt8]) -> [UInt8] {
    for prefix in ["refs/heads/", "refs/tags/", "refs/remotes/"] where name.starts(with: Array(prefix.utf8)) {
        return Array(name.dropFirst(prefix.utf8.count))
    }
    return name
}

/// Every ref under `refs/` with the object it resolves to (symbolic refs followed); refs that do
/// not resolve or whose object is missing are left out, as git leaves them out.
/// - Throws: `GitError` when the listing itself fails part way.
private func allRefs(_ repository: GitRepositoryHandle, _ objects: GitObjectDatabase) throws -> [(name: [UInt8], target: String)] {
    var iterator: OpaquePointer?
    guard git_reference_iterator_new(&iterator, repository.pointer) == 0, let iterator else {
        throw GitError("git_reference_iterator_new", repository.path)
    }
    defer { git_reference_iterator_free(iterator) }
    var refs: [([UInt8], String)] = []
    while true {
        var reference: OpaquePointer?
        let status = git_reference_next(&reference, iterator)
        if status == GIT_ITEROVER.rawValue { break }
        guard status == 0, let current = reference else { throw GitError("git_reference_next", repository.path) }
        defer { git_reference_free(current) }
        guard let name = git_reference_name(current), let target = resolvedTarget(objects, current) else { continue }
        refs.append((cString(name), target))
    }
    return refs
}

private func resolvedTarget(_ objects: GitObjectDatabase, _ reference: OpaquePointer) -> String? {
    var resolved: OpaquePointer?
    guard git_reference_resolve(&resolved, reference) == 0, let resolved else { return nil }
    defer { git_reference_free(resolved) }
    guard var oid = git_reference_target(resolved)?.pointee, git_odb_exists(objects.pointer, &oid) == 1 else { return nil }
    return hexString(oid)
}

/// HEAD's commit, and the branch it names when it is symbolic.
private func headRef(_ repository: GitRepositoryHandle, _ objects: GitObjectDatabase) -> (target: String, branch: [UInt8]?)? {
    var head: OpaquePointer?
    guard git_reference_lookup(&head, repository.pointer, "HEAD") == 0, let head else { return nil }
    defer { git_reference_free(head) }
    guard let target = resolvedTarget(objects, head) else { return nil }
    let branch = git_reference_type(head) == GIT_REFERENCE_SYMBOLIC
        ? git_reference_symbolic_target(head).map { cString($0) } : nil
    return (target, branch)
}

/// The object an annotated tag points at, or nil when `hex` is not a readable tag.
private func tagTarget(_ objects: GitObjectDatabase, _ hex: String) -> String? {
    var oid = git_oid()
    guard git_oid_fromstrn(&oid, hex, 40) == 0 else { return nil }
    var size = 0
    var type = GIT_OBJECT_INVALID
    guard git_odb_read_header(&size, &type, objects.pointer, &oid) == 0, type == GIT_OBJECT_TAG,
          let tag = try? objects.readVerified(oid, GIT_OBJECT_TAG, what: "tag \(hex)") else { return nil }
    let bytes = tag.bytes
    let prefix = Array("object ".utf8)
    guard bytes.count >= prefix.count + 40, bytes.starts(with: prefix) else { return nil }
    return String(decoding: bytes[prefix.count..<(prefix.count + 40)], as: UTF8.self)
}

func hexString(_ oid: git_oid) -> String {
    withUnsafeBytes(of: oid.id) { bytes in bytes.map { hexByte($0) }.joined() }
}

private func cString(_ text: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text)))
}

/// The repository's own config file (`$GIT_DIR/config` and what it includes), never the global
/// or system files: names lowercased as libgit2 gives them (section and key; a subsection as
/// written), each with its last value.
struct RepositoryConfig: Sendable {
    private var entries: [[UInt8]: [UInt8]] = [:]

    init(_ repository: GitRepositoryHandle) throws {
        guard let gitDirectory = git_repository_path(repository.pointer) else {
            throw GitError("git_repository_path", repository.path)
        }
        let path = String(cString: gitDirectory) + "config"
        guard FileManager.default.fileExists(atPath: path) else { return }
        var config: OpaquePointer?
        guard git_config_open_ondisk(&config, path) == 0, let config else {
            throw GitError("git_config_open_ondisk", path)
        }
        defer { git_config_free(config) }
        var iterator: OpaquePointer?
        guard git_config_iterator_new(&iterator, config) == 0, let iterator else {
            throw GitError("git_config_iterator_new", path)
        }
        defer { git_config_iterator_free(iterator) }
        var entry: UnsafeMutablePointer<git_config_entry>?
        while git_config_next(&entry, iterator) == 0 {
            guard let entry, let name = entry.pointee.name else { continue }
            entries[cString(name)] = entry.pointee.value.map { cString($0) } ?? []
        }
    }

    /// The value of `name` (lowercase section and key), or nil when it is not set.
    func value(_ name: String) -> [UInt8]? { entries[Array(name.utf8)] }

    /// Whether any `filter.NAME.*` key is set: then `git archive` would run that driver.
    func hasFilterDriver(_ name: [UInt8]) -> Bool {
        let prefix = Array("filter.".utf8) + name + [UInt8(ascii: ".")]
        return entries.keys.contains { $0.count > prefix.count && $0.starts(with: prefix) }
    }

    /// Every NAME with a `filter.NAME.*` key set (NAME may hold dots; the key is after the last).
    var filterDriverNames: Set<[UInt8]> {
        let prefix = Array("filter.".utf8)
        var names = Set<[UInt8]>()
        for key in entries.keys where key.starts(with: prefix) {
            if let dot = key.lastIndex(of: UInt8(ascii: ".")), dot > prefix.count { names.insert(Array(key[prefix.count..<dot])) }
        }
        return names
    }
}

/// A small file's bytes (at most 16 MiB), nil when it does not exist.
func readSmallFile(_ path: String) throws -> [UInt8]? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw GitError("open", path, message: "cannot read the file")
    }
    defer { try? handle.close() }
    let limit = 16 << 20
    let data = try handle.read(upToCount: limit + 1) ?? Data()
    guard data.count <= limit else { throw GitError("read", path, message: "the file is larger than 16 MiB") }
    return Array(data)
}

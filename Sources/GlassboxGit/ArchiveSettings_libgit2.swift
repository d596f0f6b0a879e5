import CGit2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where git finds what it reads besides the repository: the process environment (`HOME`,
/// `XDG_CONFIG_HOME`, `GIT_CONFIG_*`, `GIT_ATTR_*`) and the system files. A reviewer's own
/// `git archive` runs with these, so archive mode reads them too.
public struct GitEnvironment: Sendable {
    public var variables: [String: String]
    /// git's system config, `$(sysconfdir)/gitconfig`: `/etc/gitconfig` for Debian's git.
    public var systemConfig: String
    /// git's system attributes file, `$(sysconfdir)/gitattributes`.
    public var systemAttributes: String

    public init(variables: [String: String] = ProcessInfo.processInfo.environment,
                systemConfig: String = "/etc/gitconfig", systemAttributes: String = "/etc/gitattributes") {
        self.variables = variables
        self.systemConfig = systemConfig
        self.systemAttributes = systemAttributes
    }

    /// This process's environment and the system files at their Debian paths.
    public static var current: GitEnvironment { GitEnvironment() }

    /// `$XDG_CONFIG_HOME/git/NAME`, or `$HOME/.config/git/NAME`, as git's `xdg_config_home`.
    func xdgPath(_ name: String) -> String? {
        if let xdg = variables["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/git/" + name }
        if let home = variables["HOME"], !home.isEmpty { return home + "/.config/git/" + name }
        return nil
    }

    /// git's `git_env_bool`: unset is `defaultValue`.
    func flag(_ name: String, default defaultValue: Bool = false) -> Bool {
        guard let value = variables[name] else { return defaultValue }
        return gitBool(Array(value.utf8)) ?? true
    }
}

/// One configuration value and where git reads it from.
struct GitSetting: Sendable {
    /// `section.key` lowercased, a subsection as written: `filter.Lfs.smudge` is
    /// `filter.Lfs.smudge`, `Core.AutoCRLF` is `core.autocrlf`.
    var key: [UInt8]
    /// nil for a key written without `=` (true for a boolean).
    var value: [UInt8]?
    var origin: String

    var keyText: String { String(decoding: key, as: UTF8.self) }
    var valueText: String { value.map { Escaping.escape($0) } ?? "(no value)" }
}

/// Every configuration value `git archive` (git 2.39) can read in a repository: the system
/// file, the global files (`$XDG_CONFIG_HOME/git/config`, `~/.gitconfig`, or
/// `$GIT_CONFIG_GLOBAL`), the repository's `config` and `config.worktree`, each with the files it
/// includes, and `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`.
///
/// Every value is kept, not only the last: archive mode refuses a value that changes git's
/// output wherever it appears, so which one git would take last never matters. A conditional
/// include (`includeIf.COND.path`) is read whatever its condition says, for the same reason.
struct GitSettings: Sendable {
    private(set) var all: [GitSetting] = []
    let environment: GitEnvironment

    /// - Throws: `GitError` for a config file that is not a regular file or that libgit2 cannot
    ///   parse, `GIT_CONFIG_PARAMETERS` (settings from `git -c`, which archive mode does not
    ///   parse), or a `GIT_CONFIG_COUNT` git would reject.
    init(_ repository: GitRepositoryHandle, environment: GitEnvironment) throws {
        self.environment = environment
        let variables = environment.variables
        if !environment.flag("GIT_CONFIG_NOSYSTEM") {
            try read(variables["GIT_CONFIG_SYSTEM"] ?? environment.systemConfig)
        }
        if let global = variables["GIT_CONFIG_GLOBAL"] {
            try read(global)
        } else {
            if let xdg = environment.xdgPath("config") { try read(xdg) }
            if let home = variables["HOME"], !home.isEmpty { try read(home + "/.gitconfig") }
        }
        guard let gitDirectory = git_repository_path(repository.pointer),
              let commonDirectory = git_repository_commondir(repository.pointer) else {
            throw GitError("git_repository_path", repository.path)
        }
        try read(String(cString: commonDirectory) + "config")
        try read(String(cString: gitDirectory) + "config.worktree")
        if let parameters = variables["GIT_CONFIG_PARAMETERS"], !parameters.isEmpty {
            throw GitError(settingsFunction, "GIT_CONFIG_PARAMETERS",
                           message: "settings given with `git -c` reach git archive from the environment; archive mode does not read them")
        }
        if let countText = variables["GIT_CONFIG_COUNT"], !countText.isEmpty {
            guard let count = Int(countText), count >= 0, count <= 10_000 else {
                throw GitError(settingsFunction, "GIT_CONFIG_COUNT", message: "'\(Escaping.escape(Array(countText.utf8)))' is not a count git accepts")
            }
            for index in 0..<count {
                guard let key = variables["GIT_CONFIG_KEY_\(index)"], let value = variables["GIT_CONFIG_VALUE_\(index)"] else {
                    throw GitError(settingsFunction, "GIT_CONFIG_COUNT", message: "GIT_CONFIG_KEY_\(index) or GIT_CONFIG_VALUE_\(index) is missing")
                }
                all.append(GitSetting(key: canonicalKey(Array(key.utf8)), value: Array(value.utf8), origin: "GIT_CONFIG_KEY_\(index)"))
            }
        }
    }

    /// Every value of `key` (lowercase section and key; a subsection as written).
    func values(_ key: String) -> [GitSetting] {
        let wanted = Array(key.utf8)
        return all.filter { $0.key == wanted }
    }

    /// Whether any `filter.NAME.*` key is set: then `git archive` would run that driver.
    func hasFilterDriver(_ name: [UInt8]) -> Bool {
        let prefix = Array("filter.".utf8) + name + [UInt8(ascii: ".")]
        return all.contains { $0.key.count > prefix.count && $0.key.starts(with: prefix) && !$0.key[prefix.count...].contains(UInt8(ascii: ".")) }
    }

    /// Reads one config file with libgit2 (which follows its `include.path`), then every
    /// `includeIf.*.path` it names, to git's include depth of 10.
    private mutating func read(_ path: String, depth: Int = 0) throws {
        guard path != "/dev/null" else { return }
        var status = stat()
        guard stat(path, &status) == 0 else { return }   // git reads a missing file as empty
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw GitError(settingsFunction, path, message: "the config file is not a regular file; archive mode does not read it")
        }
        var config: OpaquePointer?
        guard git_config_open_ondisk(&config, path) == 0, let config else { throw GitError("git_config_open_ondisk", path) }
        defer { git_config_free(config) }
        var iterator: OpaquePointer?
        guard git_config_iterator_new(&iterator, config) == 0, let iterator else { throw GitError("git_config_iterator_new", path) }
        defer { git_config_iterator_free(iterator) }
        var conditional: [(path: [UInt8], nested: Bool)] = []
        var entry: UnsafeMutablePointer<git_config_entry>?
        while git_config_next(&entry, iterator) == 0 {
            guard let entry, let name = entry.pointee.name else { continue }
            let key = bytes(name)
            let value = entry.pointee.value.map { bytes($0) }
            let nested = entry.pointee.include_depth > 0
            all.append(GitSetting(key: key, value: value, origin: nested ? "\(path) (or a file it includes)" : path))
            if key.starts(with: Array("includeif.".utf8)) && key.reversed().starts(with: Array(".path".utf8).reversed()), let value {
                conditional.append((value, nested))
            }
        }
        for (target, nested) in conditional {
            guard depth < 10 else {
                throw GitError(settingsFunction, path, message: "includes are nested deeper than git's limit of 10")
            }
            var text = String(decoding: target, as: UTF8.self)
            if text.hasPrefix("~/"), let home = environment.variables["HOME"] {
                text = home + text.dropFirst(1)
            } else if text.hasPrefix("~") || (!text.hasPrefix("/") && nested) {
                throw GitError(settingsFunction, path, message: "includeIf names '\(Escaping.escape(target))', which archive mode does not resolve")
            } else if !text.hasPrefix("/") {
                text = (path as NSString).deletingLastPathComponent + "/" + text
            }
            try read(text, depth: depth + 1)
        }
    }
}

let settingsFunction = "git archive settings"

/// A key as git canonicalises one from the command line or the environment.
private func canonicalKey(_ key: [UInt8]) -> [UInt8] {
    guard let first = key.firstIndex(of: UInt8(ascii: ".")), let last = key.lastIndex(of: UInt8(ascii: ".")) else {
        return key.map(lowercased)
    }
    return key[..<first].map(lowercased) + key[first...last] + key[(last + 1)...].map(lowercased)
}

private func lowercased(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte + 0x20 : byte }

private func bytes(_ text: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text)))
}

/// git's `git_parse_maybe_bool`: nil (a key with no `=`) is true; nil result when git would
/// reject the value.
func gitBool(_ value: [UInt8]?) -> Bool? {
    guard let value else { return true }
    let text = String(decoding: value, as: UTF8.self).lowercased()
    if text.isEmpty || ["false", "no", "off"].contains(text) { return false }
    if ["true", "yes", "on"].contains(text) { return true }
    return gitInteger(value).map { $0 != 0 }
}

/// git's `git_parse_signed`: C's `strtoimax` in base 0 (`0x1f`, `017`, `15`), then an optional
/// `k`, `m` or `g`; nil when git would reject it.
func gitInteger(_ value: [UInt8]?) -> Int64? {
    guard let value, !value.isEmpty, !value.contains(0) else { return nil }
    return String(decoding: value, as: UTF8.self).withCString { start -> Int64? in
        var end: UnsafeMutablePointer<CChar>?
        errno = 0
        let number = strtoll(start, &end, 0)
        guard errno == 0, let end, end != UnsafeMutablePointer(mutating: start) else { return nil }
        let rest = String(cString: end).lowercased()
        let factor: Int64 = switch rest { case "": 1; case "k": 1 << 10; case "m": 1 << 20; case "g": 1 << 30; default: 0 }
        guard factor != 0 else { return nil }
        let (product, overflow) = Int64(number).multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
}

/// What archive mode does with each setting that changes `git archive`'s output. Checked once,
/// before any file is read; everything here either matches git 2.39 or is refused by name.
enum ArchiveSettingsCheck {
    /// git's default `core.bigFileThreshold`.
    static let defaultBigFileThreshold: Int64 = 512 << 20

    /// Refuses every value that would make `git archive REV` here write another tree than the
    /// commit's own attributes say: `core.autocrlf` (true), `core.eol` (crlf), `core.ignorecase`
    /// (true), `tar.umask` taking an owner permission away, `tar.FORMAT.command`, `attr.tree`,
    /// `GIT_ATTR_SOURCE`, and a `core.bigFileThreshold` git would reject.
    /// - Throws: `GitError` naming the setting, its value and the file or variable it came from.
    static func refuseChanging(_ settings: GitSettings) throws {
        func refuse(_ setting: GitSetting, _ why: String) -> GitError {
            GitError(settingsFunction, setting.origin,
                     message: "\(setting.keyText)=\(setting.valueText) is set, and \(why); archive mode refuses rather than verify another tree")
        }
        for setting in settings.values("core.autocrlf") {
            let text = setting.value.map { String(decoding: $0, as: UTF8.self).lowercased() }
            if text == "input" || gitBool(setting.value) == false { continue }
            throw refuse(setting, "git archive would write text files with CRLF line endings")
        }
        for setting in settings.values("core.eol") {
            guard let value = setting.value else { throw refuse(setting, "git rejects a core.eol without a value") }
            if String(decoding: value, as: UTF8.self).lowercased() == "crlf" {
                throw refuse(setting, "git archive would write files marked text with CRLF line endings")
            }
        }
        for setting in settings.values("core.ignorecase") where gitBool(setting.value) != false {
            throw refuse(setting, "git archive would match .gitattributes patterns ignoring case")
        }
        for setting in settings.values("tar.umask") {
            let mask: Int64?
            if setting.value == Array("user".utf8) {
                let current = umask(0)
                umask(current)
                mask = Int64(current)
            } else {
                mask = gitInteger(setting.value)
            }
            guard let mask else { throw refuse(setting, "git rejects the value") }
            if mask & 0o700 != 0 {
                throw refuse(setting, "git archive would take the owner's permissions (the executable bit among them) off every file")
            }
        }
        for setting in settings.all where setting.key.starts(with: Array("tar.".utf8))
            && setting.key.reversed().starts(with: Array(".command".utf8).reversed()) {
            throw refuse(setting, "git archive --format=\(Escaping.escape(Array(setting.key.dropFirst(4).dropLast(8)))) would run it on the archive")
        }
        for setting in settings.values("attr.tree") {
            throw refuse(setting, "newer git reads attributes from that tree instead of the commit's")
        }
        if let source = settings.environment.variables["GIT_ATTR_SOURCE"] {
            throw GitError(settingsFunction, "GIT_ATTR_SOURCE",
                           message: "GIT_ATTR_SOURCE=\(Escaping.escape(Array(source.utf8))) is set, and newer git reads attributes from that tree "
                           + "instead of the commit's; archive mode refuses rather than verify another tree")
        }
        for setting in settings.values("core.bigfilethreshold") where (gitInteger(setting.value) ?? -1) < 0 {
            throw refuse(setting, "git rejects the value")
        }
    }

    /// The range of `core.bigFileThreshold` values git could use here: git writes a file
    /// larger than the threshold as stored, without `ident`, line-ending or filter conversion
    /// (but with `export-subst`). With several values set, a size between them is refused.
    /// Precondition: `refuseChanging` passed.
    static func bigFileThresholds(_ settings: GitSettings) -> ClosedRange<Int64> {
        let values = settings.values("core.bigfilethreshold").compactMap { gitInteger($0.value) }
        guard let low = values.min(), let high = values.max() else { return defaultBigFileThreshold...defaultBigFileThreshold }
        return low...high
    }

    /// The attributes files outside the commit that git reads: `$GIT_DIR/info/attributes`, each
    /// `core.attributesFile` (or `$XDG_CONFIG_HOME/git/attributes` when none is set) and the
    /// system file (unless `GIT_ATTR_NOSYSTEM`), each with how it is named in an error.
    /// - Throws: `GitError` for a `core.attributesFile` archive mode cannot resolve as git does.
    static func outsideAttributeFiles(_ settings: GitSettings, commonDirectory: String) throws -> [(path: String, name: String)] {
        var files = [(commonDirectory + "info/attributes", "$GIT_DIR/info/attributes")]
        let configured = settings.values("core.attributesfile")
        if configured.isEmpty, let xdg = settings.environment.xdgPath("attributes") {
            files.append((xdg, "the default core.attributesFile"))
        }
        for setting in configured {
            guard let value = setting.value else {
                throw GitError(settingsFunction, setting.origin, message: "core.attributesFile has no value, which git rejects")
            }
            var path = String(decoding: value, as: UTF8.self)
            if path.hasPrefix("~/"), let home = settings.environment.variables["HOME"] { path = home + path.dropFirst(1) }
            guard path.hasPrefix("/") else {
                throw GitError(settingsFunction, setting.origin, message: "core.attributesFile=\(setting.valueText) is not a path "
                               + "archive mode resolves as git does; archive mode refuses rather than verify another tree")
            }
            files.append((path, "core.attributesFile=\(setting.valueText) (set in \(setting.origin))"))
        }
        if !settings.environment.flag("GIT_ATTR_NOSYSTEM") {
            files.append((settings.environment.systemAttributes, "the system attributes file"))
        }
        return files
    }

    /// A file's bytes, at most 16 MiB; nil when it does not exist. Never blocks on a FIFO.
    /// - Throws: `GitError` for anything but a regular file, or a larger one.
    static func readAttributesFile(_ path: String, name: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw GitError("open", path, message: "\(name) cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw GitError(settingsFunction, path, message: "\(name) is not a regular file; archive mode does not read it")
        }
        let limit = 16 << 20
        guard status.st_size <= limit else {
            throw GitError(settingsFunction, path, message: "\(name) is larger than 16 MiB; archive mode does not read it")
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var total = 0
        while total < bytes.count {
            let count = bytes[total...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw GitError("read", path, message: "\(name) cannot be read: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            total += count
        }
        return Array(bytes[..<total])
    }
}

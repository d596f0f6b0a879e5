import Foundation
import Glassbox
import GlassboxGit
import Testing

/// One way the repository, the user or the machine can configure git, and what archive mode
/// must do with it.
struct ArchiveSetting: CustomTestStringConvertible, Sendable {
    enum Expected: Sendable {
        /// Archive mode reads exactly what `git archive` writes.
        case matches
        /// Archive mode refuses, and the message holds this text (the setting's name).
        case refused(String)
    }
    var name: String
    var expected: Expected
    /// Whether `git archive` itself writes another tree than without the setting (nil: not
    /// compared, e.g. a file git only reads at a system path).
    var changesGit: Bool?
    /// Prepares the setting: the repository, a home directory, and the environment both git
    /// and archive mode run with.
    var setUp: @Sendable (_ repository: URL, _ home: URL, _ environment: inout [String: String], _ system: inout GitEnvironment) throws -> Void

    var testDescription: String { name }
}

private func write(_ text: String, _ url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

private func config(_ repository: URL, _ key: String, _ value: String) throws {
    _ = try git(["config", key, value], in: repository)
}

private let settings: [ArchiveSetting] = [
    // The issue's examples.
    .init(name: ".git/info/attributes", expected: .refused("$GIT_DIR/info/attributes"), changesGit: true) { repo, _, _, _ in
        try write("*.txt eol=crlf\n", repo.appendingPathComponent(".git/info/attributes"))
    },
    .init(name: "core.attributesFile", expected: .refused("core.attributesFile="), changesGit: true) { repo, home, _, _ in
        try write("*.txt eol=crlf\n", home.appendingPathComponent("attributes"))
        try config(repo, "core.attributesFile", home.appendingPathComponent("attributes").path)
    },
    .init(name: "core.ignorecase", expected: .refused("core.ignorecase=true"), changesGit: true) { repo, _, _, _ in
        try config(repo, "core.ignorecase", "true")
    },
    .init(name: "core.autocrlf", expected: .refused("core.autocrlf=true"), changesGit: true) { repo, _, _, _ in
        try config(repo, "core.autocrlf", "true")
    },
    .init(name: "core.eol", expected: .refused("core.eol=crlf"), changesGit: true) { repo, _, _, _ in
        try config(repo, "core.eol", "crlf")
    },
    // Where else git finds attributes.
    .init(name: "XDG_CONFIG_HOME/git/attributes", expected: .refused("the default core.attributesFile"), changesGit: true) { _, home, env, _ in
        try write("# lower precedence than the commit, so it acts where the commit says nothing\nplain eol=crlf\n", home.appendingPathComponent("xdg/git/attributes"))
        env["XDG_CONFIG_HOME"] = home.appendingPathComponent("xdg").path
    },
    .init(name: "~/.config/git/attributes", expected: .refused("the default core.attributesFile"), changesGit: true) { _, home, env, _ in
        try write("*.txt binary\nplain export-ignore\n", home.appendingPathComponent(".config/git/attributes"))
        env["XDG_CONFIG_HOME"] = nil
    },
    .init(name: "core.attributesFile with ~/", expected: .refused("core.attributesFile=~/attrs"), changesGit: true) { repo, home, _, _ in
        try write("*.sh export-ignore\n", home.appendingPathComponent("attrs"))
        try config(repo, "core.attributesFile", "~/attrs")
    },
    .init(name: "a macro of the commit used in info/attributes", expected: .refused("sets 'crlfmacro'"), changesGit: true) { repo, _, _, _ in
        try write("t.txt crlfmacro\n", repo.appendingPathComponent(".git/info/attributes"))
    },
    .init(name: "system attributes file", expected: .refused("the system attributes file"), changesGit: nil) { _, home, env, system in
        try write("* export-ignore\n", home.appendingPathComponent("etc-gitattributes"))
        system.systemAttributes = home.appendingPathComponent("etc-gitattributes").path
        env["GIT_ATTR_NOSYSTEM"] = nil
    },
    .init(name: "info/attributes about diff and merge only", expected: .matches, changesGit: false) { repo, _, _, _ in
        try write("# mine\n*.pdf diff=pdf\n*.txt merge=union linguist-vendored\n\n", repo.appendingPathComponent(".git/info/attributes"))
    },
    .init(name: "GIT_ATTR_NOSYSTEM hides the system file", expected: .matches, changesGit: nil) { _, home, _, system in
        try write("* export-ignore\n", home.appendingPathComponent("etc-gitattributes"))
        system.systemAttributes = home.appendingPathComponent("etc-gitattributes").path
    },
    // Where else git finds configuration.
    .init(name: "GIT_CONFIG_GLOBAL", expected: .refused("core.eol=CRLF"), changesGit: true) { _, home, env, _ in
        try write("[core]\n\teol = CRLF\n", home.appendingPathComponent("global"))
        env["GIT_CONFIG_GLOBAL"] = home.appendingPathComponent("global").path
    },
    .init(name: "~/.gitconfig", expected: .refused(".gitconfig"), changesGit: true) { _, home, env, _ in
        try write("[core]\n\tautocrlf\n", home.appendingPathComponent(".gitconfig"))
        env["GIT_CONFIG_GLOBAL"] = nil
    },
    .init(name: "XDG_CONFIG_HOME/git/config", expected: .refused("core.ignorecase=yes"), changesGit: true) { _, home, env, _ in
        try write("[Core]\n\tIgnoreCase = yes\n", home.appendingPathComponent("xdg/git/config"))
        env["XDG_CONFIG_HOME"] = home.appendingPathComponent("xdg").path
        env["GIT_CONFIG_GLOBAL"] = nil
    },
    .init(name: "GIT_CONFIG_SYSTEM", expected: .refused("core.autocrlf=1"), changesGit: true) { _, home, env, _ in
        try write("[core]\nautocrlf = 1\n", home.appendingPathComponent("system"))
        env["GIT_CONFIG_SYSTEM"] = home.appendingPathComponent("system").path
        env["GIT_CONFIG_NOSYSTEM"] = nil
    },
    .init(name: "GIT_CONFIG_COUNT", expected: .refused("GIT_CONFIG_KEY_0"), changesGit: true) { _, _, env, _ in
        env["GIT_CONFIG_COUNT"] = "1"
        env["GIT_CONFIG_KEY_0"] = "core.EOL"
        env["GIT_CONFIG_VALUE_0"] = "crlf"
    },
    .init(name: "GIT_CONFIG_PARAMETERS", expected: .refused("GIT_CONFIG_PARAMETERS"), changesGit: true) { _, _, env, _ in
        env["GIT_CONFIG_PARAMETERS"] = "'core.autocrlf'='true'"
    },
    .init(name: "include.path", expected: .refused("core.autocrlf=true"), changesGit: true) { repo, home, _, _ in
        try write("[core]\n\tautocrlf = true\n", home.appendingPathComponent("included"))
        try config(repo, "include.path", home.appendingPathComponent("included").path)
    },
    .init(name: "includeIf.gitdir", expected: .refused("core.eol=crlf"), changesGit: true) { repo, home, _, _ in
        try write("[core]\n\teol = crlf\n", home.appendingPathComponent("conditional"))
        try config(repo, "includeIf.gitdir:\(repo.path)/.git.path", home.appendingPathComponent("conditional").path)
    },
    // The other settings git archive acts on.
    .init(name: "tar.umask takes the executable bit", expected: .refused("tar.umask=0100"), changesGit: true) { repo, _, _, _ in
        try config(repo, "tar.umask", "0100")
    },
    .init(name: "tar.umask for group and others", expected: .matches, changesGit: false) { repo, _, _, _ in
        try config(repo, "tar.umask", "0077")
    },
    .init(name: "tar.FORMAT.command", expected: .refused("tar.tgz.command"), changesGit: false) { repo, _, _, _ in
        try config(repo, "tar.tgz.command", "cat")
    },
    .init(name: "a filter driver in the global config", expected: .refused("filter=up"), changesGit: true) { _, home, env, _ in
        try write("[filter \"up\"]\n\tsmudge = tr a-z A-Z\n", home.appendingPathComponent("global"))
        env["GIT_CONFIG_GLOBAL"] = home.appendingPathComponent("global").path
    },
    .init(name: "core.abbrev in the global config", expected: .refused("core.abbrev is set"), changesGit: true) { _, home, env, _ in
        try write("[core]\n\tabbrev = 12\n", home.appendingPathComponent("global"))
        env["GIT_CONFIG_GLOBAL"] = home.appendingPathComponent("global").path
    },
    .init(name: "core.bigFileThreshold", expected: .matches, changesGit: true) { repo, _, _, _ in
        try config(repo, "core.bigFileThreshold", "1k")
    },
    .init(name: "core.bigFileThreshold set twice", expected: .refused("core.bigFileThreshold"), changesGit: nil) { repo, home, env, _ in
        try config(repo, "core.bigFileThreshold", "1k")
        try write("[core]\n\tbigFileThreshold = 100k\n", home.appendingPathComponent("global"))
        env["GIT_CONFIG_GLOBAL"] = home.appendingPathComponent("global").path
    },
    .init(name: "settings git archive does not read", expected: .matches, changesGit: false) { repo, _, _, _ in
        for (key, value) in [("core.autocrlf", "input"), ("core.eol", "native"), ("core.ignorecase", "false"), ("core.symlinks", "false"),
                             ("core.filemode", "false"), ("log.date", "iso"), ("i18n.logOutputEncoding", "latin1"),
                             ("log.decorate", "full"), ("core.safecrlf", "true"), ("tar.tgz.remote", "true")] {
            try config(repo, key, value)
        }
    },
]

/// The repository every setting is tried on: a file for each conversion git archive applies.
private func makeRepository(_ base: URL) throws -> URL {
    let repo = base.appendingPathComponent("repo")
    try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
    _ = try git(["init", "-q"], in: repo)
    let files = ["t.txt": "one\ntwo\n", "w.crlf": "one\ntwo\n", "id.c": "$Id$\n", "v.txt": "$Format:%H %h$\n",
                 "run.sh": "#!/bin/sh\necho run\n", "x.flt": "lower\n", "m.txt": "one\ntwo\n",
                 "big.dat": String(repeating: "a line of text\n", count: 200), "plain": "plain\n"]
    for (name, text) in files { try write(text, repo.appendingPathComponent(name)) }
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: repo.appendingPathComponent("run.sh").path)
    try FileManager.default.createSymbolicLink(atPath: repo.appendingPathComponent("link").path, withDestinationPath: "t.txt")
    _ = try git(["add", "-A"], in: repo)
    try write("[attr]crlfmacro eol=crlf\n*.txt text\n*.crlf eol=crlf\nid.c ident\nv.txt export-subst\n*.SH export-ignore\n"
              + "big.dat eol=crlf\n*.flt filter=up\n", repo.appendingPathComponent(".gitattributes"))
    _ = try git(["add", "-A"], in: repo)
    _ = try git(["commit", "-q", "-m", "one"], in: repo)
    return repo
}

/// `git archive HEAD | tar -x`, run with exactly `environment`, read back as a directory.
private func gitArchive(_ repository: URL, _ environment: [String: String], into out: URL) throws -> [TreeEntry] {
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let result = try run("env", ["-i"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                         + ["bash", "-c", "set -o pipefail; git -C \"$1\" archive HEAD | tar -x -C \"$2\"", "archive", repository.path, out.path])
    guard result.status == 0 else { throw GitFailure(message: result.stderr) }
    return try DirectoryReader.read(root: out.path)
}

@Suite struct ArchiveSettingsTests {
    /// For each setting: what real `git archive` writes with it, against what archive mode reads
    /// with it (the same, or a refusal naming the setting), and whether git's tree changed.
    @Test(arguments: settings) func eachSettingIsAppliedOrRefused(_ setting: ArchiveSetting) throws {
        let base = try temporaryDirectory("archive-setting")
        defer { try? FileManager.default.removeItem(at: base) }
        let repo = try makeRepository(base)
        let home = base.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": home.path,
                           "XDG_CONFIG_HOME": home.appendingPathComponent("no-xdg").path,
                           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ATTR_NOSYSTEM": "1"]
        let baseline = try gitArchive(repo, environment, into: base.appendingPathComponent("before"))
        var system = GitEnvironment(variables: [:], systemConfig: "/nonexistent/gitconfig", systemAttributes: "/nonexistent/gitattributes")
        try setting.setUp(repo, home, &environment, &system)
        system.variables = environment
        let expected = try gitArchive(repo, environment, into: base.appendingPathComponent("after"))
        if let changes = setting.changesGit {
            #expect((expected != baseline) == changes, "git archive \(changes ? "did not change" : "changed") with \(setting.name)")
        }
        switch setting.expected {
        case .matches:
            let got = try GitReader.read(repositoryPath: repo.path, revision: "HEAD", archive: true, environment: system).entries
            #expect(got == expected, "\(Set(got.map(\.path)).symmetricDifference(expected.map(\.path)).map { String(decoding: $0, as: UTF8.self) })")
        case .refused(let text):
            let error = #expect(throws: GitError.self) {
                try GitReader.read(repositoryPath: repo.path, revision: "HEAD", archive: true, environment: system)
            }
            #expect(error?.description.contains(text) == true, "\(String(describing: error))")
            // The plain reading of the same commit does not depend on git's configuration.
            #expect(throws: Never.self) { try GitReader.read(repositoryPath: repo.path, revision: "HEAD") }
        }
    }
}

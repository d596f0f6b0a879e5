import Foundation
import Testing

/// The repository's top directory, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The directory holding the built executables: the test bundle sits beside them.
let productsDirectory: URL = {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("glassbox").path) && dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir
}()

struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutBytes: Data
    /// The program was killed by a signal (`status` is then the signal's number).
    var signalled = false
}

/// Runs a program the way a user would, with no standard input.
@discardableResult
func run(_ program: String, _ arguments: [String], in directory: URL? = nil) throws -> Result {
    let process = Process()
    if program.hasPrefix("/") {
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
    }
    if let directory { process.currentDirectoryURL = directory }
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_CONFIG_NOSYSTEM"] = "1"
    environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read stderr on another thread so neither pipe can fill up and block the child.
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                  stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData,
                  signalled: process.terminationReason == .uncaughtSignal)
}

/// Runs `glassbox` with `arguments`.
@discardableResult
func glassbox(_ arguments: String..., in directory: URL? = nil) throws -> Result {
    try run(productsDirectory.appendingPathComponent("glassbox").path, arguments, in: directory)
}

func temporaryDirectory(_ name: String = #function) throws -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-e2e-\(safe)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The fixture repositories, built once per test process by `Scripts/make-fixture-repo`.
let fixtureRoot: URL = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-e2e-fixture-\(ProcessInfo.processInfo.processIdentifier)")
    let result = try! run("bash", [repositoryRoot.appendingPathComponent("Scripts/make-fixture-repo").path, dir.path])
    precondition(result.status == 0, "make-fixture-repo failed: \(result.stderr)")
    return dir
}()

var sample: URL { fixtureRoot.appendingPathComponent("sample") }

/// Unpacks `git archive REV` of `repository` into a new directory.
func unpackArchive(_ repository: URL, _ revision: String) throws -> URL {
    let dir = try temporaryDirectory("archive")
    let tar = dir.appendingPathComponent("release.tar")
    let archived = try run("git", ["-C", repository.path, "archive", "-o", tar.path, revision])
    #expect(archived.status == 0, "\(archived.stderr)")
    let tree = dir.appendingPathComponent("tree")
    try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
    #expect(try run("tar", ["-x", "-f", tar.path, "-C", tree.path]).status == 0)
    return tree
}

/// The entry lines of a manifest (after the note text and signatures).
func entryLines(_ manifest: String) -> [Substring] {
    let parts = manifest.split(separator: "\n", omittingEmptySubsequences: false)
    let blank = parts.firstIndex(of: "")!
    return parts[(blank + 1)...].filter { !$0.isEmpty && !$0.hasPrefix("— ") }
}

/// Runs git with a fixed identity, no line-ending conversion and local file transport allowed
/// (for submodules cloned from a path), expecting success.
func git(_ args: [String], in dir: URL) throws {
    let result = try run("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
                                 "-c", "core.autocrlf=false", "-c", "protocol.file.allow=always"] + args, in: dir)
    #expect(result.status == 0, "git \(args): \(result.stderr)")
}

/// Tests/Interop/c2sp-check.go (Go's sumdb/note and tlog), built once per test process for
/// every interop test; nil when Go or golang.org/x/mod is missing.
private let builtGoChecker: String? = {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("c2sp-check-\(ProcessInfo.processInfo.processIdentifier)").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["go", "build", "-o", out, repositoryRoot.appendingPathComponent("Tests/Interop/c2sp-check.go").path]
    process.environment = ProcessInfo.processInfo.environment.merging(
        ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": NSTemporaryDirectory() + "glassbox-gocache"]) { $1 }
    guard (try? process.run()) != nil else { return nil }
    process.waitUntilExit()
    return process.terminationStatus == 0 ? out : nil
}()

func goChecker() -> String? { builtGoChecker }

/// Validates a JSON document against a JSON Schema with python3's `jsonschema`, using the draft
/// the schema declares (OASIS SARIF: Draft 4; ours: 2020-12). Returns the validator's
/// complaints, one a line, empty when the document is valid.
func jsonSchemaErrors(_ document: Data, schema: URL, name: String = #function) throws -> String {
    let file = try temporaryDirectory(name).appendingPathComponent("document.json")
    try document.write(to: file)
    let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        document = json.load(open(sys.argv[2]))
        validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(schema)
        errors = sorted(validator(schema).iter_errors(document), key=str)
        for e in errors: print(list(e.absolute_path), e.message)
        """
    let result = try run("python3", ["-c", script, schema.path, file.path])
    #expect(!result.stderr.contains("No module named 'jsonschema'"), "jsonschema (PyPI) is needed; Scripts/test installs it")
    return result.stdout + (result.status == 0 ? "" : result.stderr)
}

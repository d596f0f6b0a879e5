import Foundation
import Glassbox

/// The repository's top directory, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The external test vectors copied into the repository, each folder with its README and license.
let vectorsDirectory = repositoryRoot.appendingPathComponent("Tests/Vectors")

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func unhex(_ s: String) -> [UInt8] { decodeHex(Array(s.utf8), count: s.utf8.count / 2)! }

/// Runs a program and returns its exit status and output; the tests' way to build fixtures.
@discardableResult
func run(_ program: String, _ arguments: [String], in directory: URL? = nil,
         environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = drain(out.fileHandleForReading)
    let errData = drain(err.fileHandleForReading)
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// Everything a pipe gives until its end. A signal may interrupt a read (EINTR), which
/// Foundation's readDataToEndOfFile turns into a crash; it is retried here.
private func drain(_ handle: FileHandle) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = read(handle.fileDescriptor, &buffer, buffer.count)
        if count > 0 {
            data.append(contentsOf: buffer[0..<count])
        } else if count < 0 && errno == EINTR {
            continue
        } else {
            return data
        }
    }
}

/// A new empty temporary directory.
func temporaryDirectory(_ name: String = #function) throws -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-tests-\(safe)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Builds the fixture repositories with `Scripts/make-fixture-repo` once per test process.
let fixtureRoot: URL = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("glassbox-fixture-\(ProcessInfo.processInfo.processIdentifier)")
    let result = try! run("bash", [repositoryRoot.appendingPathComponent("Scripts/make-fixture-repo").path, dir.path])
    precondition(result.status == 0, "make-fixture-repo failed: \(result.stderr)")
    return dir
}()

/// The fixture's sample repository.
var sampleRepository: URL { fixtureRoot.appendingPathComponent("sample") }

/// Runs git with a fixed identity and dates, no user or system configuration, and local file
/// transport allowed (for submodules cloned from a path); fails the caller on a git error.
func git(_ args: [String], in dir: URL) throws -> String {
    let result = try run("git", ["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
                                 "-c", "protocol.file.allow=always"] + args, in: dir,
                         environment: ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                                       "GIT_AUTHOR_DATE": "2026-01-01T00:00:00 +0000",
                                       "GIT_COMMITTER_DATE": "2026-01-01T00:00:00 +0000"])
    guard result.status == 0 else { throw GitFailure(message: "git \(args): \(result.stderr)") }
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

struct GitFailure: Error { var message: String }

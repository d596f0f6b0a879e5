import Foundation
import GlassboxFuzzChecks
import Testing

/// `FuzzTesting/`: the fuzz package, its seed corpora, and the inputs fuzzing has found.
private let fuzzDirectory = repositoryRoot.appendingPathComponent("FuzzTesting")

/// The files of `FuzzTesting/<folder>/<target>/`, by name, in name order.
private func inputs(_ folder: String, _ target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
    let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
    guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
    return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map {
        ($0, [UInt8](try Data(contentsOf: directory.appendingPathComponent($0))))
    }
}

/// The fuzz targets' properties, replayed without fuzzing: `Scripts/fuzz` searches for new
/// inputs; these tests keep the seeds and every input it ever found passing.
@Suite struct FuzzRegressionTests {
    // Every seed and every input kept in Regressions/ (each once crashed or broke a property)
    // passes its target's check. A crash here is a regression of a fixed bug.
    @Test(arguments: FuzzTarget.allCases)
    func seedsAndRegressionsKeepTheProperties(target: FuzzTarget) throws {
        let all = try inputs("Corpus", target) + inputs("Regressions", target)
        for input in all {
            do { _ = try target.check(input.bytes) } catch {
                Issue.record("\(target.rawValue)/\(input.name): \(error)")
            }
        }
    }

    // The seeds reach the properties, not only the parser's first rejection: at least one seed
    // of each target is accepted and checked.
    @Test(arguments: FuzzTarget.allCases)
    func seedsReachTheProperties(target: FuzzTarget) throws {
        let outcomes = try inputs("Corpus", target).map { try? target.check($0.bytes) }
        #expect(outcomes.contains(.checked), "no seed of \(target.rawValue) is accepted")
    }

    // Every folder is named after a target, so a renamed target cannot silently stop replaying
    // its seeds and regressions.
    @Test func everyFolderNamesATarget() throws {
        for folder in ["Corpus", "Regressions", "Pending"] {
            let directory = fuzzDirectory.appendingPathComponent(folder)
            guard FileManager.default.fileExists(atPath: directory.path) else { continue }
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where !name.hasPrefix(".") {
                #expect(FuzzTarget(rawValue: name) != nil, "FuzzTesting/\(folder)/\(name) names no fuzz target")
            }
        }
    }
}

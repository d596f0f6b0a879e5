import ArgumentParser
import Foundation
import Glassbox
import GlassboxCrypto
import GlassboxGit
import GlassboxReview

/// `glassbox rebuild`: build a release's artifacts from its signed tree in a sandbox and compare
/// them, bit for bit, with the signed ones.
struct RebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild a release's artifacts from its signed tree in a sandbox and compare them with the signed ones.",
        discussion: """
            glassbox rebuild --manifest M --trust P (--repo R [--rev REV] | --dir D | --tarball T) --artifacts DIR [--keep DIR] [--json]
            glassbox rebuild (--repo R [--rev REV] | --dir D) --recipe PATH --output DIR
            The build runs under bubblewrap with no network, the system read-only and only /build writable.
            Exit 0 every signed artifact rebuilt and reproduced, 1 an artifact differs, is missing, is not rebuilt or an unlisted output appeared,
            2 cannot rebuild here (malformed recipe, package version, no sandbox, a failing run line), 64 usage.
            """)

    @Option(name: .long, help: "The signed manifest: its recipe line names the recipe, its artifacts are compared.", completion: .file())
    var manifest: String?

    @Option(name: .long, help: "The trust policy (with --manifest).", completion: .file())
    var trust: String?

    @Option(name: .long, help: "A git repository holding the release (read from its objects).", completion: .directory)
    var repo: String?

    @Option(name: .long, help: "The revision (default: the commit the manifest names, else HEAD).")
    var rev: String?

    @Option(name: .long, help: "A directory holding the release.", completion: .directory)
    var dir: String?

    @OptionGroup var tarballOptions: TarballOptions

    @Flag(name: .long, help: "With --repo and no manifest: build from the bytes `git archive` writes.")
    var archive = false

    @Option(name: .long, help: "With --manifest: the directory holding the shipped artifacts, compared with the signed ones and with the rebuilt ones.", completion: .directory)
    var artifacts: String?

    @Option(name: .long, help: "Without --manifest: the recipe's path in the tree.")
    var recipe: String?

    @Option(name: [.customShort("o"), .long], help: "Without --manifest: the directory to write the built artifacts to. With --manifest and --attest: the file to write the signed rebuild attestation to.", completion: .file())
    var output: String?

    @Option(name: .long, help: "With --manifest: sign a rebuild attestation with this private key (PEM), for failures too; -o names its file.", completion: .file())
    var attest: String?

    @Option(name: .long, help: "With --attest: the key name (default: from PREFIX.pub beside the key).")
    var name: String?

    @Option(name: .long, help: "With --attest: the file holding the key's passphrase.", completion: .file())
    var passphraseFile: String?

    @Option(name: .long, help: "Make the build directory here and keep it afterwards, to look at.", completion: .directory)
    var keep: String?

    @Option(name: .long, help: "Seconds the whole build may take (default: 3600).")
    var timeout: Int = 3600

    @Option(name: .long, help: "Bytes the build's file system (/build, /tmp and /dev/shm together, the tree included) holds at most, during the build (default: 4 GiB).")
    var maxOutput: UInt64 = 4 << 30

    @Option(name: .long, help: "Files, directories and symlinks that file system holds at most (default: 1000000).")
    var maxFiles: UInt64 = 1_000_000

    @Flag(name: .long, help: "With --manifest: pass (exit 0) when the recipe rebuilds only some of the signed artifacts and those reproduce. The verdict says PARTLY REPRODUCED and names this option; an attestation lists the others as missing.")
    var allowNotRebuiltUnsafe = false

    @Option(name: .long, help: "With diffoscope installed: also write its HTML report to this directory.", completion: .directory)
    var diffoscopeHtml: String?

    @Flag(name: .long, help: "Print JSON (media type \(RebuildReport.mediaType)).")
    var json = false

    @Option(name: .long, help: "Worker threads for reading (default: one per core).")
    var workers: Int?

    @OptionGroup var colorOptions: ColorOptions

    func validate() throws {
        guard [repo, dir, tarballOptions.tarball].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --repo, --dir or --tarball")
        }
        if repo == nil && rev != nil { throw ValidationError("--rev goes with --repo") }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
        if maxOutput < 1 { throw ValidationError("--max-output must be at least 1 byte") }
        if maxFiles < 16 { throw ValidationError("--max-files must be at least 16") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if manifest != nil {
            guard trust != nil, artifacts != nil else { throw ValidationError("--manifest needs --trust and --artifacts") }
            if recipe != nil { throw ValidationError("--recipe goes without --manifest: the signed manifest names the recipe") }
            if output != nil && attest == nil { throw ValidationError("--output goes without --manifest (or names the attestation with --attest); keep the build directory with --keep") }
            if attest != nil && output == nil { throw ValidationError("--attest needs -o FILE for the attestation") }
            if archive { throw ValidationError("--archive goes without --manifest: the manifest says how its tree was read") }
        } else {
            guard recipe != nil, output != nil else { throw ValidationError("give --manifest M --trust P --artifacts DIR, or --recipe PATH --output DIR") }
            if trust != nil || artifacts != nil { throw ValidationError("--trust and --artifacts go with --manifest") }
            if tarballOptions.tarball != nil { throw ValidationError("a vendor's build reads --repo or --dir") }
            if diffoscopeHtml != nil || json { throw ValidationError("--diffoscope-html and --json go with --manifest") }
            if attest != nil || name != nil || passphraseFile != nil { throw ValidationError("--attest, --name and --passphrase-file go with --manifest") }
            if allowNotRebuiltUnsafe { throw ValidationError("--allow-not-rebuilt-unsafe goes with --manifest") }
            if archive && repo == nil { throw ValidationError("--archive goes with --repo") }
        }
    }

    func run() throws {
        try runReporting {
            do {
                return try manifest != nil ? rebuildSigned() : buildForVendor()
            } catch let error as RebuildError {
                throw UserError(error.message, hint: error.hint)
            }
        }
    }

    private var tree: TreeLocation {
        repo.map { .git(repository: $0, revision: rev) } ?? tarballOptions.location ?? .directory(dir!)
    }

    private func request(recipe: [UInt8], expected: [TreeEntry]?, archive: Bool, tree: TreeLocation) -> BuildRequest {
        BuildRequest(tree: tree, archive: archive, recipePath: recipe, expected: expected,
                     parent: keep ?? FileManager.default.temporaryDirectory.path, keep: keep != nil,
                     timeout: timeout, maxOutput: maxOutput, maxFiles: maxFiles, workers: workers ?? defaultWorkerCount)
    }

    /// The vendor's side: build and write the artifacts, nothing to compare with yet.
    private func buildForVendor() throws -> Int32 {
        guard let path = Escaping.unescape(Array(recipe!.utf8)), pathProblem(path) == nil else {
            throw UserError("--recipe '\(recipe!)' is not a relative path in the tree")
        }
        let result = try Rebuild.build(request(recipe: path, expected: nil, archive: archive, tree: tree))
        defer { if keep == nil { result.directory.remove() } }
        warnIfFull(result)
        let compared = Rebuild.compare(recipe: result.recipe, signed: [], outputs: result.outputs)
        try FileManager.default.createDirectory(atPath: output!, withIntermediateDirectories: true)
        var failed = false
        for item in compared {
            switch item.status {
            case .unsigned where item.rebuiltSHA256 != nil:
                let name = Escaping.unescape(Array(item.name.utf8))!
                // From $OUT's own descriptor, never through a symlink, and the bytes hashed.
                let bytes: [UInt8]
                do { bytes = try HeldFile(root: result.directory.output, path: name).read() } catch let error as SandboxError {
                    throw UserError("$OUT/\(item.name): \(error.message)")
                }
                guard hex(SHA256.hash(bytes)) == item.rebuiltSHA256 else { throw UserError("$OUT/\(item.name): changed after it was read") }
                let target = output! + "/" + String(decoding: name, as: UTF8.self)
                try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try writeOutput(bytes, to: target, mode: 0o755)
                say("built \(item.name) \(item.rebuiltSize ?? 0) \(item.rebuiltSHA256!)\n")
            case .unlisted:
                failed = true
                say("✗ \(item.name): written to $OUT, but the recipe names no such artifact\n")
            default:
                failed = true
                say("✗ \(item.name): the recipe names it (line \(item.recipeLine ?? 0)), but the build did not write it\n")
            }
        }
        sayReport("glassbox: rebuild: \(failed ? "FAILED" : "built") in \(String(format: "%.1f", result.seconds)) s, SOURCE_DATE_EPOCH=\(result.sourceDateEpoch)"
                  + (keep != nil ? ", build directory \(result.directory.path)" : "") + "\n", passed: !failed, colorOptions.painter)
        return failed ? Exit.failed : Exit.verified
    }

    /// The reviewer's side: verify as verify-release does, build from the verified tree, compare.
    /// diffoscope on `PATH` (or in the usual places).
    private var diffoscope: String? {
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        return ProgramRunner.find("diffoscope", in: path.filter { $0.hasPrefix("/") } + ["/usr/bin", "/usr/local/bin"])
    }

    private func rebuildSigned() throws -> Int32 {
        if diffoscopeHtml != nil && diffoscope == nil {
            throw UserError("--diffoscope-html needs diffoscope, which is not on PATH", hint: "install it: apt-get install diffoscope")
        }
        // The key is loaded before the build: a wrong key or passphrase stops here, not after.
        let signer = try attest.map { try loadSigner(keyPath: $0, name: name, passphraseFile: passphraseFile) }
        let policy = try loadPolicy(trust!)
        let verification = VerificationRequest(policy: policy, day: todayUTC(), tree: tree, artifacts: [artifacts!],
                                               scan: nil, workers: workers ?? defaultWorkerCount)
        let outcome: VerificationOutcome
        do { outcome = try ReleaseVerifier.verify(manifest: .file(manifest!), verification) } catch let error as FormatError {
            throw UserError("\(manifest!)\(error.line.map { ":\($0)" } ?? ""): \(error.message)",
                            hint: "a manifest is described in `glassbox help format` (byte by byte in Manifests/FORMAT.md)")
        }
        guard outcome.verified, let release = outcome.release else {
            printError("glassbox: error: the release does not verify; nothing was rebuilt\n")
            for finding in outcome.findings where finding.severity == .failure {
                printError("✗ \(finding.name)\(finding.subject.map { " \($0)" } ?? ""): \(finding.message)\n")
            }
            printError("glassbox: hint: verify-release --manifest \(manifest!) --trust \(trust!) … shows the whole report\n")
            return Exit.failed
        }
        guard let recipePath = release.header.recipe else {
            throw UserError("\(manifest!): the manifest names no recipe", hint: "the vendor names one with `glassbox manifest … --recipe PATH`")
        }
        // The verified entries: the manifest read again, its note text the one just verified.
        var expected: [TreeEntry] = []
        let again = try ManifestInput.file(manifest!).parse { expected.append($0) }
        guard again.noteText == release.noteText, again.isConsistent else {
            throw UserError("\(manifest!): the manifest changed while it was being read")
        }
        var buildTree = tree
        if case let .git(repository, nil) = tree, case let .git(commit, _, _, _) = release.header.source {
            buildTree = .git(repository: repository, revision: commit)
        }
        let result = try Rebuild.build(request(recipe: recipePath, expected: expected, archive: release.header.gitArchive, tree: buildTree))
        defer { if keep == nil { result.directory.remove() } }
        warnIfFull(result)

        var compared = Rebuild.compare(recipe: result.recipe, signed: release.header.artifacts, outputs: result.outputs)
        for index in compared.indices where compared[index].status == .differs {
            explain(&compared[index], rebuiltRoot: result.directory.output, logDirectory: result.directory.logDirectory)
        }
        let report = RebuildReport(release: release.header, result: result, artifacts: compared,
                                   kept: keep != nil ? result.directory.path : nil, allowNotRebuilt: allowNotRebuiltUnsafe)
        if let signer {
            // What was rebuilt, signed whatever the outcome: a failed rebuild is news too.
            let recipeDigest = expected.first { $0.path == recipePath }?.digest ?? []
            var rebuilt: [[UInt8]: [UInt8]] = [:]
            for output in result.outputs where output.kind.isRegularFile { rebuilt[output.path] = output.digest }
            let attestation = try RebuildAttestation.make(
                origin: release.header.origin, root: release.root, listed: release.header.artifacts, recipePath: recipePath,
                recipeSHA256: recipeDigest,
                environment: result.recipe.requires.map { RebuildAttestation.Requirement(package: $0.package, version: $0.version) },
                rebuilt: rebuilt)
            try writeOutput(try attestation.signedNote(signers: [signer]).bytes, to: output)
            printError("glassbox: rebuild attestation written to \(output!) as \(signer.verifier.name)\n")
        }
        if json { try writeOutput(renderJSON(report), to: nil) } else { sayReport(report.text, passed: report.passed, colorOptions.painter) }
        return report.passed ? Exit.verified : Exit.failed
    }

    private func warnIfFull(_ result: BuildResult) {
        if result.full {
            printError("glassbox: warning: the build filled its file system (--max-output \(maxOutput) bytes, --max-files \(maxFiles) files); an artifact may be cut short\n")
        }
    }

    /// Fills in the first differing offset, the likely causes and diffoscope's report, from the
    /// reviewer's copy of the signed artifact (checked again against the signed digest).
    private func explain(_ item: inout RebuiltArtifact, rebuiltRoot: String, logDirectory: String) {
        let name = Escaping.unescape(Array(item.name.utf8))!
        let limit = 256 << 20
        // Both files held open from here on: what is compared, hashed and handed to diffoscope
        // is one file each, whatever is renamed meanwhile.
        guard let signedFile = try? HeldFile(root: artifacts!, path: name), let rebuiltFile = try? HeldFile(root: rebuiltRoot, path: name),
              let signed = try? signedFile.read(limit: limit), hex(SHA256.hash(signed)) == item.signedSHA256,
              let rebuilt = try? rebuiltFile.read(limit: limit), hex(SHA256.hash(rebuilt)) == item.rebuiltSHA256 else {
            item.likelyCauses = ["not examined: the artifacts are larger than \(limit >> 20) MiB, not regular files, or changed since they were verified"]
            return
        }
        item.firstDifferingOffset = Rebuild.firstDifference(signed, rebuilt)
        item.likelyCauses = Rebuild.likelyCauses(signed: signed, rebuilt: rebuilt)
        guard let diffoscope else { return }
        var argv = [diffoscope, "--text", "-", "--max-report-size", "0", "--max-diff-block-lines", "0"]
        if let html = diffoscopeHtml { argv += ["--html-dir", html + "/" + String(decoding: name, as: UTF8.self).replacingOccurrences(of: "/", with: "_")] }
        argv += [signedFile.procPath, rebuiltFile.procPath]
        let result = try? ProgramRunner.run(argv, environment: ["PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=/nonexistent"],
                                            timeout: 1800, outputLimit: 16 << 20, logDirectory: logDirectory)
        withExtendedLifetime((signedFile, rebuiltFile)) {}
        if let result {
            // diffoscope exits 1 when the files differ; anything else is its own failure.
            let text = String(decoding: result.output, as: UTF8.self)
            item.diffoscope = result.status == 1 ? text : "diffoscope failed (\(result.status.map { "status \($0)" } ?? "stopped")): \(text)"
        }
    }
}

/// The rebuild report, as text or JSON.
struct RebuildReport: Encodable {
    static let mediaType = "application/vnd.glassbox.rebuild.v1+json"

    var mediaType = RebuildReport.mediaType
    /// The version of the tools that wrote it, as `--version` prints it.
    var toolVersion = GlassboxVersion.string
    var release: String
    var origin: String
    var recipe: String
    var sourceDateEpoch: UInt64
    var seconds: Double
    /// Every signed artifact was rebuilt and reproduced, and nothing else was written.
    var reproduced: Bool
    /// Set only with --allow-not-rebuilt-unsafe: what the recipe rebuilt reproduced, and the
    /// signed artifacts it does not build were accepted unchecked.
    var partlyReproducedUnsafe: Bool?
    var artifacts: [RebuiltArtifact]
    var buildDirectory: String?

    /// Whether the command exits 0: reproduced, or partly reproduced as the reviewer allowed.
    var passed: Bool { reproduced || partlyReproducedUnsafe == true }

    init(release header: ReleaseHeader, result: BuildResult, artifacts: [RebuiltArtifact], kept: String?, allowNotRebuilt: Bool = false) {
        release = "\(header.name) \(header.version)"
        origin = header.origin
        recipe = header.recipe.map(Escaping.escape) ?? ""
        sourceDateEpoch = result.sourceDateEpoch
        seconds = (result.seconds * 10).rounded() / 10
        self.artifacts = artifacts
        reproduced = artifacts.contains { $0.status == .reproduced } && artifacts.allSatisfy(\.reproduced)
        if allowNotRebuilt {
            partlyReproducedUnsafe = !reproduced && artifacts.contains { $0.status == .reproduced }
                && artifacts.allSatisfy { $0.status == .reproduced || $0.status == .notRebuilt }
        }
        buildDirectory = kept
    }

    var text: String {
        let bad = artifacts.filter { !$0.reproduced }.count
        let notRebuilt = artifacts.filter { $0.status == .notRebuilt }.count
        let good = artifacts.count - bad
        var out: String
        if reproduced {
            out = "glassbox: rebuild: REPRODUCED \(release) (\(origin)): \(counting(good, "artifact")) bit for bit\n"
        } else if partlyReproducedUnsafe == true {
            out = "glassbox: rebuild: PARTLY REPRODUCED (--allow-not-rebuilt-unsafe) \(release) (\(origin)): \(good) of \(counting(artifacts.count, "signed artifact")) bit for bit, \(notRebuilt) not rebuilt and not checked\n"
        } else {
            out = "glassbox: rebuild: NOT REPRODUCED \(release) (\(origin)): \(bad) of \(counting(artifacts.count, "artifact"))"
                + (notRebuilt > 0 ? " (\(notRebuilt) signed but not rebuilt)" : "") + "\n"
        }
        out += "recipe     \(recipe), SOURCE_DATE_EPOCH=\(sourceDateEpoch), built in \(String(format: "%.1f", seconds)) s\n"
        if let buildDirectory { out += "kept       \(buildDirectory)\n" }
        for item in artifacts {
            switch item.status {
            case .reproduced:
                out += "✓ \(item.name): reproduced, \(item.rebuiltSize!) bytes, sha256 \(item.rebuiltSHA256!)\n"
            case .differs:
                out += "✗ \(item.name): differs\n"
                out += "    signed   \(item.signedSize!) bytes, sha256 \(item.signedSHA256!)\n"
                out += "    rebuilt  \(item.rebuiltSize!) bytes, sha256 \(item.rebuiltSHA256!)\n"
                if let offset = item.firstDifferingOffset { out += "    first difference at byte \(offset) (0x\(String(offset, radix: 16)))\n" }
                out += item.likelyCauses.isEmpty
                    ? "    likely causes: none of the common ones (build path, timestamp, permissions, file order) matched: the source or the toolchain differs\n"
                    : item.likelyCauses.map { "    likely cause: \($0)\n" }.joined()
                if let diffoscope = item.diffoscope {
                    // The whole report, untruncated: the difference may be anywhere in it.
                    let lines = diffoscope.split(separator: "\n", omittingEmptySubsequences: false)
                    out += "    diffoscope:\n" + lines.map { "      \($0)\n" }.joined()
                }
            case .missing:
                out += "✗ \(item.name): the recipe names it (line \(item.recipeLine ?? 0)), but the build did not write it\n"
            case .unsigned:
                out += "✗ \(item.name): the recipe builds it (line \(item.recipeLine ?? 0)), but the manifest signs no artifact of that name\n"
            case .unlisted:
                out += "✗ \(item.name): written to $OUT, but the recipe names no such artifact\n"
            case .notRebuilt where partlyReproducedUnsafe != nil:
                out += "· \(item.name): signed, but the recipe does not build it: not compared (--allow-not-rebuilt-unsafe)\n"
            case .notRebuilt:
                out += "✗ \(item.name): signed, but the recipe does not build it: not reproduced\n"
            }
        }
        return out
    }
}

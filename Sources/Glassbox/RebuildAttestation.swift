import GlassboxCrypto
import GlassboxGit

/// A rebuilder's signed statement of what rebuilding one release's artifacts came to: which
/// release (origin and Merkle root), which recipe (its path and SHA-256), which environment
/// (`requires` packages and the versions found), and for every artifact the manifest lists
/// its signed SHA-256, the SHA-256 the rebuild produced (or that it produced none) and
/// whether the two are equal. Failures are attested too: a "differs" is evidence.
///
/// The note text, exactly (see `Manifests/FORMAT.md`):
/// ```
/// glassbox-rebuild v1
/// origin ORIGIN
/// root BASE64-ROOT
/// recipe RECIPE-SHA256 PATH
/// requires PACKAGE VERSION                     (zero or more, sorted by package, unique)
/// artifact SIGNED-SHA256 REBUILT-SHA256|missing reproduced|differs NAME   (one or more, sorted by name, unique)
/// ```
public struct RebuildAttestation: Sendable, Equatable {
    /// One package the recipe requires, and the version the rebuild environment had.
    public struct Requirement: Sendable, Equatable {
        public var package: String
        public var version: String
        public init(package: String, version: String) {
            self.package = package
            self.version = version
        }
    }

    /// What rebuilding one listed artifact came to.
    public struct Outcome: Sendable, Equatable {
        /// The artifact's name, as the manifest lists it (raw bytes).
        public var name: [UInt8]
        /// The SHA-256 the release manifest signs for it.
        public var signed: [UInt8]
        /// The SHA-256 of the rebuilt file; nil when the rebuild did not produce it.
        public var rebuilt: [UInt8]?
        /// The rebuild produced exactly the signed bytes.
        public var reproduced: Bool { rebuilt.map { constantTimeEquals($0, signed) } ?? false }
        public init(name: [UInt8], signed: [UInt8], rebuilt: [UInt8]?) {
            self.name = name
            self.signed = signed
            self.rebuilt = rebuilt
        }
    }

    /// The first line, naming this format and its version.
    public static let header = "glassbox-rebuild v1"
    /// The longest note text an attestation may have: as long as a manifest's note text, whose
    /// artifacts it lists again.
    public static let maxText = Manifest.maxNoteText
    /// The longest line, in bytes, as in a manifest.
    public static let maxLineLength = Manifest.maxLineLength
    /// The longest package name or version, in bytes.
    public static let maxWord = 256
    /// The most `requires` lines.
    public static let maxRequirements = 10_000

    public let origin: String
    public let root: [UInt8]
    /// The recipe's path as the rebuilder named it (raw bytes).
    public let recipePath: [UInt8]
    public let recipeSHA256: [UInt8]
    /// Sorted by package name, unique.
    public let requires: [Requirement]
    /// Sorted by name, unique, at least one.
    public let artifacts: [Outcome]
    /// The exact note text bytes: what signatures cover.
    public let text: [UInt8]

    /// Whether every listed artifact was reproduced.
    public var allReproduced: Bool { artifacts.allSatisfy(\.reproduced) }

    /// The attestation for rebuilding the release `origin`/`root`, whose manifest lists
    /// `listed`; `rebuilt` maps artifact names to the SHA-256 of the file the rebuild produced
    /// (names the manifest does not list are not part of the statement).
    /// - Throws: `FormatError` for an origin a manifest could not have, no listed artifacts, an
    ///   empty recipe path, a package or version that is not printable ASCII without spaces (at
    ///   most 256 bytes), a package named twice, or a text longer than `maxText`.
    public static func make(origin: String, root: [UInt8], listed: [Artifact], recipePath: [UInt8], recipeSHA256: [UInt8],
                            environment: [Requirement], rebuilt: [[UInt8]: [UInt8]]) throws -> RebuildAttestation {
        let outcomes = listed.sorted { $0.name.lexicographicallyPrecedes($1.name) }
            .map { Outcome(name: $0.name, signed: $0.sha256, rebuilt: rebuilt[$0.name]) }
        let requires = environment.sorted { $0.package.utf8.lexicographicallyPrecedes($1.package.utf8) }
        let text = render(origin: origin, root: root, recipePath: recipePath, recipeSHA256: recipeSHA256,
                          requires: requires, artifacts: outcomes)
        // What is written is what the parser accepts: every rule lives in one place.
        return try RebuildAttestation(parsing: text)
    }

    /// The attestation for a manifest's release (its origin, root and artifacts).
    public static func make(manifest: Manifest, recipePath: [UInt8], recipeSHA256: [UInt8],
                            environment: [Requirement], rebuilt: [[UInt8]: [UInt8]]) throws -> RebuildAttestation {
        try make(origin: manifest.header.origin, root: manifest.root, listed: manifest.header.artifacts, recipePath: recipePath,
                 recipeSHA256: recipeSHA256, environment: environment, rebuilt: rebuilt)
    }

    static func render(origin: String, root: [UInt8], recipePath: [UInt8], recipeSHA256: [UInt8],
                       requires: [Requirement], artifacts: [Outcome]) -> [UInt8] {
        var lines = [header, "origin " + origin, "root " + base64(root), "recipe \(hex(recipeSHA256)) \(Escaping.escape(recipePath))"]
        for r in requires { lines.append("requires \(r.package) \(r.version)") }
        for a in artifacts {
            lines.append("artifact \(hex(a.signed)) \(a.rebuilt.map(hex) ?? "missing") \(a.reproduced ? "reproduced" : "differs") "
                         + Escaping.escape(a.name))
        }
        return Array(lines.map { $0 + "\n" }.joined().utf8)
    }

    /// Parses a note text strictly: each line in its place and its one canonical form.
    /// - Throws: `FormatError` naming the line.
    public init(parsing text: [UInt8]) throws {
        guard text.count <= RebuildAttestation.maxText else {
            throw FormatError(line: nil, "the note text is more than \(RebuildAttestation.maxText) bytes")
        }
        guard text.last == 0x0A, String(validating: text, as: UTF8.self) != nil else {
            throw FormatError(line: nil, "the note text is not UTF-8 lines ending with a newline")
        }
        // Lines are split on bytes: as characters, an LF followed by a combining mark would not end a line.
        let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        for (index, line) in lines.enumerated() {
            let string = String(decoding: line, as: UTF8.self)
            if line.isEmpty || string.unicodeScalars.contains(where: isControl) {
                throw FormatError(line: index + 1, "an empty line or a control character in the note text")
            }
            if line.count > RebuildAttestation.maxLineLength {
                throw FormatError(line: index + 1, "the line is longer than \(RebuildAttestation.maxLineLength) bytes")
            }
        }
        var number = 0
        var rest = lines.makeIterator()
        var pending: ArraySlice<UInt8>?
        // The value after `key ` on the next line, when that line starts with it.
        func take(_ key: String, required: Bool) throws -> ArraySlice<UInt8>? {
            if pending == nil, let next = rest.next() { pending = next; number += 1 }
            let prefix = Array((key + " ").utf8)
            guard let line = pending, line.starts(with: prefix) else {
                if required {
                    throw FormatError(line: number + (pending == nil ? 1 : 0), "expected a '\(key) …' line, found "
                                      + (pending.map { "'\(String(decoding: $0, as: UTF8.self))'" } ?? "the end of the note text"))
                }
                return nil
            }
            pending = nil
            return line.dropFirst(prefix.count)
        }
        // Fields split on single spaces; the last takes the rest of the line (a name may hold spaces).
        func fields(_ value: ArraySlice<UInt8>, _ count: Int, _ shape: String) throws -> [ArraySlice<UInt8>] {
            let parts = value.split(separator: 0x20, maxSplits: count - 1, omittingEmptySubsequences: false)
            guard parts.count == count, !parts.contains(where: \.isEmpty) else { throw FormatError(line: number, "expected '\(shape)'") }
            return parts
        }
        func digest(_ field: ArraySlice<UInt8>, _ what: String) throws -> [UInt8] {
            guard let bytes = decodeHex(field, count: 32) else {
                throw FormatError(line: number, "the \(what) is not 64 lowercase hex digits")
            }
            return bytes
        }

        guard let first = rest.next() else { throw FormatError(line: 1, "the note text is empty") }
        number = 1
        guard first.elementsEqual(RebuildAttestation.header.utf8) else {
            throw FormatError(line: 1, "expected '\(RebuildAttestation.header)'")
        }
        let origin = String(decoding: try take("origin", required: true)!, as: UTF8.self)
        try Manifest.validate(origin: origin, line: number)
        guard let root = decodeBase64(String(decoding: try take("root", required: true)!, as: UTF8.self)), root.count == 32 else {
            throw FormatError(line: number, "the root is not the base64 of 32 bytes")
        }
        let recipe = try fields(try take("recipe", required: true)!, 2, "recipe SHA256 PATH")
        let recipeSHA256 = try digest(recipe[0], "recipe's SHA-256")
        guard let recipePath = Escaping.unescape(recipe[1]), !recipePath.isEmpty else {
            throw FormatError(line: number, "the recipe path is not escaped canonically")
        }

        var requires: [Requirement] = []
        while let value = try take("requires", required: false) {
            let parts = try fields(value, 2, "requires PACKAGE VERSION")
            // Package names and versions are plain printable ASCII words, so none can look
            // like another on a screen or hide a second field.
            guard parts.allSatisfy({ $0.count <= RebuildAttestation.maxWord && $0.allSatisfy { (0x21...0x7E).contains($0) } }) else {
                throw FormatError(line: number, "a package and its version are printable ASCII without spaces, at most \(RebuildAttestation.maxWord) bytes each")
            }
            let requirement = Requirement(package: String(decoding: parts[0], as: UTF8.self), version: String(decoding: parts[1], as: UTF8.self))
            if let last = requires.last, !last.package.utf8.lexicographicallyPrecedes(requirement.package.utf8) {
                throw FormatError(line: number, "the package '\(requirement.package)' is duplicated or out of order")
            }
            guard requires.count < RebuildAttestation.maxRequirements else {
                throw FormatError(line: number, "more than \(RebuildAttestation.maxRequirements) 'requires' lines")
            }
            requires.append(requirement)
        }

        var artifacts: [Outcome] = []
        while let value = try take("artifact", required: artifacts.isEmpty) {
            let shape = "artifact SIGNED-SHA256 REBUILT-SHA256|missing reproduced|differs NAME"
            let parts = try fields(value, 4, shape)
            let signed = try digest(parts[0], "signed SHA-256")
            let rebuilt = parts[1].elementsEqual("missing".utf8) ? nil : try digest(parts[1], "rebuilt SHA-256")
            guard let name = Escaping.unescape(parts[3]), pathProblem(name) == nil else {
                throw FormatError(line: number, "the artifact name is not a canonically escaped relative path")
            }
            let outcome = Outcome(name: name, signed: signed, rebuilt: rebuilt)
            // The word must say what the hashes say: a reader of either cannot be misled.
            let word = outcome.reproduced ? "reproduced" : "differs"
            guard parts[2].elementsEqual(word.utf8) else {
                throw FormatError(line: number, "the hashes say '\(word)', the line says '\(String(decoding: parts[2], as: UTF8.self))'")
            }
            if let last = artifacts.last, !last.name.lexicographicallyPrecedes(name) {
                throw FormatError(line: number, "the artifact '\(Escaping.escape(name))' is duplicated or out of order")
            }
            artifacts.append(outcome)
        }
        if let extra = pending ?? rest.next() {
            if pending == nil { number += 1 }
            throw FormatError(line: number, "unexpected line in the note text: '\(String(decoding: extra, as: UTF8.self))'")
        }
        self.origin = origin
        self.root = root
        self.recipePath = recipePath
        self.recipeSHA256 = recipeSHA256
        self.requires = requires
        self.artifacts = artifacts
        self.text = text
    }

    /// The attestation as a C2SP signed note, signed by each of `signers` in order.
    /// - Throws: `CryptoError` from signing.
    public func signedNote(signers: [NoteSigner]) throws -> SignedNote {
        let lines = try signers.map { try $0.signatureLine(for: text) }
        return try SignedNote(text: text, signatureLines: lines, firstSignatureLine: text.filter { $0 == 0x0A }.count + 2)
    }
}

/// An attestation as handed to a verifier: where it came from, its signed note, and its text
/// parsed. Its signatures are not yet checked.
public struct AttestationInput: Sendable {
    /// The file name (or other label) reports name it by.
    public let source: String
    public let note: SignedNote
    public let attestation: RebuildAttestation

    /// The most bytes an attestation file may have: its text and a full set of signatures.
    public static let maxSize = RebuildAttestation.maxText + 64 << 10

    /// Parses a signed note and its attestation text.
    /// - Throws: `NoteError` when it is not a signed note, `FormatError` when its text is not
    ///   a `glassbox-rebuild v1` attestation.
    public init(parsing bytes: [UInt8], source: String) throws {
        note = try SignedNote(parsing: bytes)
        attestation = try RebuildAttestation(parsing: note.text)
        self.source = source
    }
}

/// What the rebuild attestations came to under a trust policy.
public struct RebuildVerdict: Sendable {
    /// The trusted rebuilders that attest every listed artifact reproduced: distinct public keys.
    public let counted: [VerifierKey]
    public let threshold: Int
    public let findings: [Finding]
    public var met: Bool { counted.count >= threshold }
}

/// Checks rebuild attestations for `release` against `policy`'s rebuilders on `day`.
///
/// A trusted rebuilder counts when its valid signature (in its dates, allowed for the origin)
/// is on an attestation for this exact release (origin and root) that lists exactly the
/// manifest's artifacts with their signed SHA-256s, each reproduced. One public key counts
/// once. A trusted rebuilder attesting that a listed artifact differs is a failure, whatever
/// the threshold; a bad signature by a trusted rebuilder is a failure; an attestation from no
/// trusted rebuilder, for another release or not covering the listed artifacts is a note and
/// does not count.
public func checkRebuilds(_ inputs: [AttestationInput], release: VerifiedRelease, policy: TrustPolicy,
                          day: String) -> RebuildVerdict {
    var findings: [Finding] = []
    var counted: [VerifierKey] = []
    let origin = release.header.origin
    var listed: [[UInt8]: [UInt8]] = [:]
    for artifact in release.header.artifacts { listed[artifact.name] = artifact.sha256 }

    for input in inputs {
        let a = input.attestation
        let file = input.source
        let outcomes = input.note.verify(with: policy.rebuilders.map(\.verifier))
        guard !outcomes.isEmpty else {
            findings.append(Finding(.note, .rebuild, .rebuildUntrusted, subject: file,
                                    "not signed by a trusted rebuilder (the policy's 'rebuilder' keys); it does not count"))
            continue
        }
        var signers: [VerifierKey] = []
        var forged = false
        for outcome in outcomes {
            switch outcome {
            case let .invalid(key):
                forged = true
                findings.append(Finding(.failure, .rebuild, .badSignature, subject: key.name,
                                        "in \(file), the signature by trusted rebuilder \(key.name)+\(hexID(key.keyID)) does not verify"))
            case let .valid(key):
                guard let entry = policy.rebuilders.first(where: { $0.verifier == key }) else { continue }
                if let problem = entry.dateProblem(on: day) {
                    findings.append(Finding(.note, .rebuild, .keyOutsideValidity, subject: key.name,
                                            "\(file): valid signature by rebuilder \(key.name), but the key is \(problem); it does not count"))
                } else if !entry.allows(origin: origin) {
                    findings.append(Finding(.note, .rebuild, .keyNotAllowedForOrigin, subject: key.name,
                                            "\(file): valid signature by rebuilder \(key.name), but the policy does not let it attest \(origin); it does not count"))
                } else {
                    signers.append(key)
                }
            }
        }
        // A note a known key's failing signature is on is rejected whole, as C2SP opens notes:
        // its text says nothing, whoever else signed it. Each trusted key that signed and does
        // not count was reported above.
        guard !forged, !signers.isEmpty else { continue }
        let names = signers.map(\.name).joined(separator: ", ")
        guard a.origin.utf8.elementsEqual(origin.utf8), constantTimeEquals(a.root, release.root) else {
            findings.append(Finding(.note, .rebuild, .otherRelease, subject: file,
                                    "\(names) attest\(signers.count == 1 ? "s" : "") origin \(a.origin) root \(base64(a.root)), "
                                    + "not this release (origin \(origin) root \(base64(release.root))); it does not count"))
            continue
        }
        // Every "differs" about an artifact of this release, as signed, is reported.
        var covered = 0
        var mismatched: [String] = []
        for outcome in a.artifacts {
            guard let signed = listed[outcome.name], constantTimeEquals(signed, outcome.signed) else {
                mismatched.append(Escaping.escape(outcome.name))
                continue
            }
            covered += 1
            if !outcome.reproduced {
                let what = outcome.rebuilt.map { "rebuilt it as sha256 \(hex($0))" } ?? "did not produce it"
                findings.append(Finding(.failure, .rebuild, .notReproduced, subject: Escaping.escape(outcome.name),
                                        "rebuilder \(names) (\(file)) \(what); the manifest signs sha256 \(hex(outcome.signed))"))
            }
        }
        guard covered == listed.count, mismatched.isEmpty else {
            let shown = mismatched.prefix(3).joined(separator: ", ") + (mismatched.count > 3 ? ", …" : "")
            findings.append(Finding(.note, .rebuild, .rebuildIncomplete, subject: file,
                                    "attests \(covered) of the \(counting(listed.count, "artifact")) the manifest lists, as signed"
                                    + (mismatched.isEmpty ? "" : "; not listed with that SHA-256: \(shown)") + "; it does not count"))
            continue
        }
        guard a.allReproduced else { continue }
        for key in signers {
            if let same = counted.first(where: { $0.canonicalKey == key.canonicalKey }) {
                findings.append(Finding(.note, .rebuild, .sameKeyAgain, subject: key.name,
                                        "\(file): \(key.name) is the same public key as \(same.name), which already counted; it counts once"))
            } else {
                counted.append(key)
            }
        }
    }
    if counted.count < policy.rebuildThreshold {
        let none = listed.isEmpty ? " (the manifest lists no artifacts to rebuild)" : ""
        findings.append(Finding(.failure, .rebuild, .rebuildThresholdNotMet,
                                "\(counted.count) of the \(policy.rebuildThreshold) required trusted rebuilders attest that every artifact reproduced\(none)"))
    }
    return RebuildVerdict(counted: counted, threshold: policy.rebuildThreshold, findings: findings)
}

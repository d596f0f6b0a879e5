import Foundation
import Glassbox
import GlassboxGit
import GlassboxScan

/// The parts of SARIF 2.1.0 that scan results use, as code-scanning tools read them: rules with
/// help text and a `security-severity`, results with a fingerprint that survives line moves,
/// columns counted in code points, and the commit scanned.
struct SARIF: Encodable {
    var version = "2.1.0"
    var schema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    var runs: [Run]

    enum CodingKeys: String, CodingKey { case version, schema = "$schema", runs }

    struct Run: Encodable {
        var tool: Tool
        /// The scan counts columns in Unicode code points, as SARIF's `unicodeCodePoints` does.
        var columnKind = "unicodeCodePoints"
        var versionControlProvenance: [VersionControl]?
        var results: [Result]
    }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name = "glassbox"
        // No `informationUri`: it is optional, and the tool has no public page to name. Its
        // manual is `man glassbox`; each rule's help text says what the finding means.
        var version = GlassboxVersion.string
        var rules: [Rule]
    }
    struct Text: Encodable { var text: String }
    struct Level: Encodable { var level: String }
    struct Rule: Encodable {
        var id: String
        var shortDescription: Text
        var help: Text
        var defaultConfiguration: Level
        var properties: RuleProperties
    }
    struct RuleProperties: Encodable {
        /// GitHub code scanning reads this as a CVSS-like score: 7.0–8.9 high, 4.0–6.9 medium,
        /// 0.1–3.9 low.
        var securitySeverity: String
        var tags = ["security"]
        enum CodingKeys: String, CodingKey { case securitySeverity = "security-severity", tags }
    }
    struct VersionControl: Encodable {
        var repositoryUri: String
        var revisionId: String
    }
    struct Result: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: Text
        var locations: [Location]
        var partialFingerprints: [String: String]
        var suppressions: [Suppression]?
        var baselineState: String?
        /// SARIF's property bag: the paths a finding about an attributes line stands for.
        var properties: ResultProperties?
    }
    struct ResultProperties: Encodable { var paths: [String] }
    /// A reviewed exception: SARIF's way to say a result was looked at and accepted elsewhere.
    struct Suppression: Encodable {
        var kind = "external"
        var justification: String
    }
    struct Location: Encodable { var physicalLocation: PhysicalLocation }
    struct PhysicalLocation: Encodable {
        var artifactLocation: ArtifactLocation
        var region: Region?
    }
    struct ArtifactLocation: Encodable { var uri: String }
    struct Region: Encodable {
        var startLine: Int
        var startColumn: Int?
    }

    /// The score a rule's default severity gives (see `RuleProperties`).
    static func securitySeverity(_ severity: ScanFinding.Severity) -> String {
        switch severity {
        case .error: "8.0"
        case .warning: "5.0"
        case .note: "2.0"
        }
    }

    /// What a reader should do about each rule's findings (`help.text`).
    static let help: [String: String] = [
        "bidi-unterminated": "Open the file in an editor that shows bidi controls, or with `cat -v`, and read the line as the compiler does. Remove the control, or close it (PDF, PDI) in the same comment or string if the right-to-left text is wanted.",
        "bidi-control": "Check that the bidi control only orders right-to-left prose and is closed where it opens; in code, remove it.",
        "invisible-character": "Remove the character, or write it as an escape (\\u200B) so readers see it; two identifiers that differ only by it are different names.",
        "misplaced-bom": "Remove the byte order mark; only the first bytes of a file may hold one.",
        "control-character": "Remove the control character, or write it as an escape (\\0, \\x1b) where a string needs it; a file the build reads should hold only text.",
        "mixed-script-identifier": "Rename the identifier in one script, or check that each letter is the one meant.",
        "confusable-identifiers": "Rename one of the identifiers: a reader cannot tell them apart, and a call may reach the wrong one.",
        "gitattributes-filter": "Review the filter, ident or working-tree-encoding attribute: the bytes built from a checkout are not the bytes reviewed in git. Remove it, or review the checkout.",
        "gitattributes-eol": "Check that line-ending conversion cannot change what is built; review the checkout if it can.",
        "gitattributes-export": "Review the git archive tarball itself: export-subst and export-ignore make it differ from the tag.",
        "gitattributes-unchecked": "Review the .gitattributes file by hand: it was too large or too complex to check.",
        "symlink-absolute": "Make the symlink relative and inside the tree, or remove it: it reaches files outside the release.",
        "symlink-escapes": "Make the symlink point inside the tree, or remove it.",
        "symlink-dangling": "Add the target to the release, or remove the symlink.",
        "symlink-chain": "Point the symlink at the final target.",
        "path-case-collision": "Rename one of the paths: on a case-insensitive file system one file replaces the other.",
        "path-normalization-collision": "Rename one of the paths: on a normalising file system one file replaces the other.",
        "path-windows-reserved": "Rename the file: Windows cannot create it, or opens a device instead.",
        "path-trailing-dot-space": "Rename the file: Windows drops the trailing dot or space, and the name may then collide.",
        "path-git-lookalike": "Rename the path: some file systems treat it as .git, which can run code on checkout.",
        "path-control-character": "Rename the path: control characters can rewrite what a terminal shows.",
        "binary-executable": "Rebuild the binary from reviewed source, or check where it comes from: it cannot be reviewed as source.",
        "binary-large": "Check that the blob is data the build needs and where it comes from.",
        "lfs-pointer": "Fetch and review the LFS content: the repository holds only a pointer to it.",
        "long-lines": "Review the generated or minified code from its source, or regenerate it in the build.",
        "scan-limit": "Review the rest of the file by hand: the scan stopped at a bound that keeps its memory in check.",
        "submodule-missing": "Fetch the submodule's pinned commit and review it: its content is not in this repository.",
    ]
}

/// A relative URI reference for a path: every byte outside the unreserved set percent-encoded.
func sarifURI(_ escapedPath: String) -> String {
    percentEncoded(Escaping.unescape(Array(escapedPath.utf8)) ?? Array(escapedPath.utf8))
}

/// `file://` and an absolute path, for `versionControlProvenance.repositoryUri`.
func fileURI(_ path: String) -> String {
    "file://" + percentEncoded(Array(URL(fileURLWithPath: path).standardizedFileURL.path.utf8))
}

private func percentEncoded(_ raw: [UInt8]) -> String {
    var out = ""
    for byte in raw {
        if (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || [0x2D, 0x2E, 0x5F, 0x7E, 0x2F].contains(byte) {
            out.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            out += String(format: "%%%02X", byte)
        }
    }
    return out
}

import ArgumentParser
import Foundation
import Glassbox

/// The reference a reviewer needs in a review room that has the binaries and nothing else:
/// no repository, no README, no network. `glassbox help TOPIC` and `verify-release
/// --help-topic TOPIC` print `text`; the installed manual pages (glassbox-format(5),
/// glassbox-policy(5), glassbox-exit-codes(7), and the EXIT STATUS of every command's page)
/// are made from the same `text` by `manualPage()`, so the two cannot say different things.
/// `Manifests/FORMAT.md` stays the byte-by-byte reference; these are its summary.
package enum HelpTopic: String, CaseIterable, Sendable {
    case format
    case policy
    case exitCodes = "exit-codes"

    /// The topics as a reader types them: `format, policy, exit-codes`.
    package static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The manual page's name: `glassbox-format`.
    package var manualName: String { "glassbox-\(rawValue)" }

    /// File formats are section 5; the exit codes, a convention across commands, section 7.
    package var manualSection: Int { self == .exitCodes ? 7 : 5 }

    /// One line, for the manual page's NAME section.
    package var summary: String {
        switch self {
        case .format: "the files glassbox writes and verify-release reads"
        case .policy: "the trust policy that tells verify-release whose signatures count"
        case .exitCodes: "what the exit codes of glassbox and verify-release mean"
        }
    }

    /// The topic as printed. Its layout is the little the manual page needs to know: a line
    /// with no lowercase letter, standing alone between empty lines, is a heading; other lines
    /// at the margin are running text, paragraphs split by empty lines; indented lines are
    /// shown as they stand.
    package var text: String {
        switch self {
        case .format: HelpTopic.formatText
        case .policy: HelpTopic.policyText
        case .exitCodes: HelpTopic.exitCodesText
        }
    }
}

// MARK: - The texts

extension HelpTopic {
    private static let formatText = #"""
        GLASSBOX FORMATS

        What the files a reviewer is handed hold, in brief. Manifests/FORMAT.md in
        the source gives every byte, with a worked example to recompute by hand.
        All are UTF-8 text with LF line ends; a parser refuses anything else.

        MANIFEST

        A manifest lists every path of a source release under one Merkle root, in
        this order:

          ORIGIN                      the release, e.g. vendor.example/router/2.4.0
          COUNT                       the number of entry lines, decimal
          ROOT                        base64 of the 32-byte RFC 6962 Merkle root
          glassbox-manifest v1
          name NAME
          version VERSION
          source git|git-archive|directory
          commit ID                   git only: the signed commit
          tree ID                     git only: its root tree
          tag NAME                    when the revision named a tag
          tag-object ID               an annotated tag's object
          recipe PATH                 optional: the build recipe in the tree
          artifact SIZE SHA256 NAME   zero or more: shipped files, sorted by name
          (one empty line)
          — KEYNAME BASE64            signature lines, zero to 100
          KIND SIZE SHA256 PATH       entry lines, one per path, sorted by bytes

        The lines before the empty line are the note text, a C2SP tlog-checkpoint.
        The signatures cover exactly those bytes, through the LF of the last line,
        so everything up to the last signature line is a C2SP signed note that any
        note verifier can check; glassbox checkpoint MANIFEST prints it alone.

        KIND is file (git mode 100644), exec (100755), link (a symlink, never
        followed: SIZE and SHA256 are of its target) or submodule (SIZE is -, the
        digest is the pinned commit id). Directories are not listed.

        Paths, names, versions and tags are escaped, one spelling each: \\ for a
        backslash, \n \r \t, and \xHH for any other control byte, each byte of a C1
        control, a byte that is not valid UTF-8, and a space at either end.

        HASHES

          leaf   SHA-256(0x00 || entry line without its LF)
          node   SHA-256(0x01 || left || right)
          root   the RFC 6962 Merkle Tree Hash of the leaves in file order;
                 for no entries, SHA-256 of nothing

        The root and the count are in the signed note text, so the signatures cover
        every entry line: changing, adding, removing or reordering one changes the
        root or breaks the order.

        KEYS AND SIGNATURES

        A verifier key (PREFIX.pub) is a C2SP vkey, NAME+KEYID+BASE64(TYPE || KEY):

          type 0x01   Ed25519: KEY is the 32-byte public key; KEYID is the first
                      4 bytes of SHA-256(NAME || 0x0A || 0x01 || KEY), in hex
          type 0x02   ECDSA P-256: KEY is the DER SubjectPublicKeyInfo; KEYID is
                      the first 4 bytes of SHA-256(KEY); a signature is DER ECDSA
                      over SHA-256 of the note text
          type 0x04   a witness's Ed25519 cosignature key (tlog-cosignature/v1)

        A private key (PREFIX.key, mode 0600) is PKCS#8 PEM, encrypted with
        AES-256-CBC when it has a passphrase; keys made by openssl genpkey work too.
        A signature line is an EM DASH (U+2014), a space, the key name, a space and
        the base64 of the key ID and the signature, BASE64(KEYID || SIGNATURE).

        CHECKPOINTS AND PROOFS

        A log checkpoint is a signed note whose text is three lines: the log's
        origin, its size, and the base64 root. Witnesses add cosignature lines,
        "— NAME BASE64(KEYID || 8-byte time || signature)". A reviewer's --state
        file and a witness's state file hold the last checkpoint text seen.

        glassbox prove and glassbox log prove write a C2SP tlog-proof@v1 file:

          c2sp.org/tlog-proof@v1
          extra BASE64(LINE)          glassbox prove only: the entry line proven
          index N                     the entry's position, from 0
          BASE64(HASH)                the inclusion proof, one hash a line
          (one empty line, then the manifest's signed note or the checkpoint)

        glassbox log consistency writes:

          glassbox-consistency-proof v1
          old SIZE
          new SIZE
          BASE64(HASH)                the RFC 6962 consistency proof, one a line

        RECIPES AND REBUILD ATTESTATIONS

        A build recipe is a file in the tree, named by the note's recipe line:
        glassbox-recipe v1, then requires PACKAGE VERSION, run COMMAND, artifact
        NAME and source-date-epoch SECONDS lines. A rebuild attestation is a signed
        note whose text is glassbox-rebuild v1, origin ORIGIN, root BASE64, recipe
        SHA256 PATH, requires lines, and one artifact SIGNED REBUILT STATUS NAME
        line per artifact, STATUS reproduced or differs.

        The trust policy and scan exceptions: glassbox help policy.
        """#

    private static let policyText = #"""
        TRUST POLICY

        A reviewer's plain-text list of who may sign what, for verify-release
        --trust FILE; glassbox trust init writes one. UTF-8 with LF line ends, at
        most 1 MiB; empty lines and lines starting with # are skipped:

          glassbox-trust v1
          threshold 2
          key vendor.example/release-a+c33a4d18+AQSe... origins=vendor.example/*
          key vendor.example/release-b+9192ae3b+AjBZ... not-after=2026-12-31
          scan-fail-on error
          scan-exceptions reviewed.exceptions
          rebuilder rebuild.example/r1+0f3c22a1+AU7x...
          rebuild-threshold 1

        glassbox-trust v1 comes first. threshold K: at least K distinct keys of this
        list must have valid signatures that count, K from 1 to the number of keys.

        key VKEY [origins=P,...] [not-before=YYYY-MM-DD] [not-after=YYYY-MM-DD]: a
        trusted release key. origins limits the releases it may sign, each an exact
        origin or a prefix ending in *. The dates are UTC days, inclusive, compared
        with today. A valid signature by a key outside its dates or origins is
        reported and does not count.

        scan-fail-on note|warning|error|none (default error): hidden-content scan
        findings at or above it fail verification. none keeps the scan out of the
        verdict; it still runs, and the VERIFIED line says what was not counted.
        verify-release --fail-on overrides it.

        scan-exceptions FILE: reviewed scan exceptions, relative to the policy's
        directory unless it starts with /. A finding an exception covers does not
        count and is listed with the exception's reason.

        rebuilder VKEY [origins=...] [not-before=...] [not-after=...]: a key trusted
        to sign rebuild attestations, limited as key lines are. rebuild-threshold K
        (default 0): the release verifies only when K distinct trusted rebuilders
        attest that every artifact it lists reproduced.

        HOW SIGNATURES COUNT

        A signer is its key, not its name: each public key may appear once, under
        any name or encoding, and counts once. Signatures by keys not in the list
        are ignored. A signature by a listed key that does not verify is a failure,
        whatever the other signatures say. Names and origins compare as bytes.
        Release keys and rebuilder keys are separate lists: one never counts for
        the other.

        SCAN EXCEPTIONS

        A reviewer's list of scan findings looked at and accepted, one a line, for
        the policy's scan-exceptions and glassbox scan --exceptions:

          glassbox-scan-exceptions v2
          # PATH RULE FINGERPRINT REASON
          abs symlink-absolute 862a0134cbc2cc0f0e5ddd83e642c709 installs /etc/x

        PATH is escaped as in a manifest, with each space written \x20. FINGERPRINT
        is the finding's 32 hex digits, which glassbox scan --json prints; for a
        finding on a line it covers that line's text. REASON is the rest of the
        line, not empty. Each exception accepts one finding: the same line twice
        in a file needs the exception twice. A v1 file is refused: write it again.

        WHAT VERIFY-RELEASE CHECKS, IN ORDER

          1. the policy and the manifest parse strictly (else exit 2)
          2. at least K distinct trusted keys signed the note text's exact bytes
          3. the entry lines hash to the signed root and number the signed count;
             if 2 or 3 fails, the tree is not read at all
          4. the tree is the one the note names: with --repo, the signed commit
             and tree; with --dir, read without following any symlink
          5. every entry: bytes, mode, symlink target, submodule pin; and every
             path present but not listed
          6. the hidden-content scan, unless --skip-scan-unsafe
          7. every artifact, with --artifacts
          8. rebuild attestations, with --rebuild-attestation or a
             rebuild-threshold
          9. the transparency log, with --log-proof

        Every finding of a step is reported, not only the first. Every string from
        the input is shown with control, bidi and invisible characters made
        visible, so nothing in a release can rewrite the verdict line.
        """#

    private static let exitCodesText = #"""
        EXIT CODES

        glassbox and verify-release end with one of four codes:

          0    verified or clean: the check ran to the end and found nothing wrong
          1    verification failed: content differs, a bad signature, a fork or an
               inconsistent log, scan findings at the fail-on threshold, a rebuilt
               artifact that differs
          2    bad input or I/O: an unreadable or malformed file, a wrong key file
               or key type, a checkpoint signed by no key you named; printed as
               glassbox: error: ..., often with glassbox: hint: ...
          64   usage: an unknown option, a missing one, or options that do not go
               together

        Where a command family differs:

          scan               1: findings at or above --fail-on (default error)
          diff               0 identical, 1 different, 2 trouble, as diff(1)
          check              1: the tree differs from the manifest
          rebuild            1: an artifact differs or is missing, or the build
                             wrote one not listed; 2: cannot rebuild here (a
                             recipe, a package version, no sandbox, a failing
                             run line)
          attest-rebuild     1: an artifact did not reproduce; the attestation
                             is written all the same
          log verify         1: the checkpoint's signature by the log key does
                             not verify, the tiles or the root do not match
                             the entries, or the checkpoint was rolled back
                             or replaced; 2: a key file of the wrong kind, or
                             no signature by the log key at all
          log add            1: as log verify, or it would sign a second tree
                             of one size; 2: as log verify, or an unsigned
                             or malformed manifest
          log prove,         1: the checkpoint's signature does not verify,
          log consistency    or an entry bundle is missing or short; 2: not
                             in the log, or --from out of range
          witness cosign     1: refused: the log's signature does not verify,
                             a rollback, a split view, another origin, a
                             proof that fails or none for a larger tree;
                             2: bad input (keys, checkpoint, proof, state)
        """#
}

// MARK: - The manual pages

extension HelpTopic {
    /// The topic as an mdoc(7) manual page: NAME, then `text` as the DESCRIPTION, then SEE
    /// ALSO. Headings become `.Ss`, running text is left for the formatter to fill, indented
    /// lines become a literal display. Nothing in `text` is input, but a line starting with
    /// `.` or `'` would be a macro and `\` an escape, so both are neutralised.
    package func manualPage() -> String {
        var lines = [
            ".Dd $Mdocdate$",
            ".Dt \(manualName.uppercased()) \(manualSection)",
            ".Os glassbox \(GlassboxVersion.string)",
            ".Sh NAME",
            ".Nm \(manualName)",
            ".Nd \(summary)",
            ".Sh DESCRIPTION",
        ]
        lines += HelpTopic.mdocBody(text)
        lines.append(".Sh SEE ALSO")
        let references = [("glassbox", 1), ("verify-release", 1)]
            + HelpTopic.allCases.filter { $0 != self }.map { ($0.manualName, $0.manualSection) }
        for (index, (name, section)) in references.enumerated() {
            lines.append(".Xr \(name) \(section)" + (index < references.count - 1 ? " ," : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// mdoc macros for a text laid out as `text` is.
    package static func mdocBody(_ text: String) -> [String] {
        var out: [String] = []
        var inDisplay = false
        var afterHeading = false
        var paragraphOpen = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let indented = line.first == " "
            let alone = (index == 0 || lines[index - 1].isEmpty) && (index == lines.count - 1 || lines[index + 1].isEmpty)
            if inDisplay && !indented {
                out.append(".Ed")
                inDisplay = false
            }
            if line.isEmpty {
                paragraphOpen = false
                continue
            }
            if indented {
                if !inDisplay {
                    out.append(".Bd -literal -offset 2n")
                    inDisplay = true
                }
                out.append(escapeForMdoc(String(line.dropFirst(2))))
                afterHeading = false
            } else if alone && !line.contains(where: \.isLowercase) && line.contains(where: \.isLetter) {
                out.append(".Ss \(escapeForMdoc(String(line)))")
                afterHeading = true
                paragraphOpen = false
            } else {
                if !paragraphOpen && !afterHeading && !out.isEmpty { out.append(".Pp") }
                out.append(escapeForMdoc(String(line)))
                paragraphOpen = true
                afterHeading = false
            }
        }
        if inDisplay { out.append(".Ed") }
        return out
    }

    /// One line of text made literal for mdoc: `\` is written `\e`, and `\&` keeps a leading
    /// `.` or `'` from reading as a macro.
    private static func escapeForMdoc(_ line: String) -> String {
        let escaped = line.replacingOccurrences(of: "\\", with: "\\e")
        return escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped
    }
}

// MARK: - Answering before argument parsing

extension HelpTopic {
    /// Answers `glassbox help TOPIC` (and `glassbox help TOPIC --mdoc`, the manual page
    /// `Scripts/install` installs) and exits; returns without a word when the arguments name
    /// no topic, and argument-parser's own `help SUBCOMMAND` goes on as before. Topics are
    /// answered before parsing because argument-parser's `help` takes only subcommand names.
    /// - Parameter arguments: the command line without the program's name.
    package static func answerHelpCommand(_ arguments: [String]) {
        guard arguments.count >= 2, arguments[0] == "help", let topic = HelpTopic(rawValue: arguments[1]) else { return }
        switch Array(arguments.dropFirst(2)) {
        case []: say(topic.text + "\n")
        case ["--mdoc"]: say(topic.manualPage())
        default:
            printError("glassbox: error: `glassbox help \(topic.rawValue)` takes no other arguments\n")
            exit(Exit.usage)
        }
        exit(Exit.verified)
    }

    /// Answers `--help-topic TOPIC` (or `--help-topic=TOPIC`) wherever it stands before a
    /// `--`, as `--help` is answered, and exits: 0 with the topic, 64 with the list of topics
    /// when the name is missing or unknown. Returns when the option is not there. Answered
    /// before parsing so that a command's required options (verify-release's `--trust`) do
    /// not stand in the way.
    /// - Parameter arguments: the command line without the program's name.
    package static func answerHelpTopicOption(_ arguments: [String], command: any ParsableCommand.Type) {
        var requested: String??
        for (index, argument) in arguments.enumerated() {
            if argument == "--" { break }
            if argument == "--help-topic" {
                requested = .some(index + 1 < arguments.count ? arguments[index + 1] : nil)
                break
            }
            if argument.hasPrefix("--help-topic=") {
                requested = .some(String(argument.dropFirst("--help-topic=".count)))
                break
            }
        }
        guard let requested else { return }
        guard let name = requested, let topic = HelpTopic(rawValue: name) else {
            command.exit(withError: ValidationError("--help-topic takes one of: \(names)"))
        }
        say(topic.text + "\n")
        exit(Exit.verified)
    }
}

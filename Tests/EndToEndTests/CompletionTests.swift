import Foundation
import Testing

/// Shell completion completes option values, not only option names: `--fail-on` its four
/// thresholds, `--dir` directories, file options files. Runs the bash script argument-parser
/// generates, the way bash would call it on TAB.
@Suite struct CompletionTests {
    /// What bash offers for `line` (the text before the cursor), with `directory` as the
    /// working directory: the script is sourced, and its completion function called with the
    /// COMP_* variables bash sets.
    func offered(_ program: String, _ line: String, in directory: URL) throws -> [String] {
        let script = try run(productsDirectory.appendingPathComponent(program).path, ["--generate-completion-script", "bash"])
        #expect(script.status == 0, "\(script.stderr)")
        let file = directory.appendingPathComponent("\(program).bash")
        try script.stdoutBytes.write(to: file)
        let emulation = #"""
            source "$1"
            function=$(complete -p "$2" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
            COMP_LINE=$3
            COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<<"$COMP_LINE"
            [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMPREPLY=()
            "$function" "$2" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
            """#
        let result = try run("bash", ["-c", emulation, "bash", file.path, program, line], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init).sorted()
    }

    /// A review room: two directories, two files.
    func reviewRoom() throws -> URL {
        let room = try temporaryDirectory()
        for dir in ["review-room", "dist"] {
            try FileManager.default.createDirectory(at: room.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try Data().write(to: room.appendingPathComponent("router.manifest"))
        try Data().write(to: room.appendingPathComponent("trust"))
        return room
    }

    @Test func failOnOffersItsFourThresholds() throws {
        let room = try reviewRoom()
        #expect(try offered("verify-release", "verify-release --fail-on ", in: room) == ["error", "none", "note", "warning"])
        #expect(try offered("verify-release", "verify-release --trust trust --fail-on w", in: room) == ["warning"])
        #expect(try offered("glassbox", "glassbox scan --fail-on ", in: room) == ["error", "none", "note", "warning"])
    }

    @Test func directoryOptionsOfferDirectoriesOnly() throws {
        let room = try reviewRoom()
        #expect(try offered("verify-release", "verify-release --dir ", in: room) == ["dist", "review-room"])
        #expect(try offered("verify-release", "verify-release --manifest router.manifest --dir r", in: room) == ["review-room"])
        #expect(try offered("glassbox", "glassbox verify-release --dir ", in: room) == ["dist", "review-room"])
        #expect(try offered("glassbox", "glassbox manifest --repo ", in: room) == ["dist", "review-room"])
    }

    /// Every option and argument of every command completes its values, unless it takes no
    /// name of a file here: a revision, a count, a name, a path inside the release.
    @Test func everyOptionThatTakesAFileCompletesIt() throws {
        let noFileHere: Set<String> = [
            "rev", "strip-components", "workers", "name", "version", "origin", "threshold", "origins",
            "witness-threshold", "max-bytes", "from", "timeout", "max-output", "max-files", "requires", "recipe-path",
            "ignore-unlisted",   // a glob
            "not-before", "not-after", "rebuild-threshold", "source-uri",
            "subcommands",   // argument-parser's own `help SUBCOMMAND`
        ]
        // Paths inside the release tree, not on this machine.
        let pathsInTheRelease: Set<String> = ["glassbox manifest --recipe", "glassbox rebuild --recipe", "glassbox prove path",
                                              "glassbox verify-release --path", "verify-release --path"]
        var missing: [String] = []
        func walk(_ command: [String: Any], _ names: [String]) {
            for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String != "flag" {
                let value = argument["valueName"] as? String ?? "?"
                let shown = names.joined(separator: " ") + (argument["kind"] as? String == "positional" ? " \(value)" : " --\(value)")
                if argument["completionKind"] == nil && !noFileHere.contains(value) && !pathsInTheRelease.contains(shown) {
                    missing.append(shown)
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { walk(sub, names + [sub["commandName"] as? String ?? "?"]) }
        }
        for program in ["glassbox", "verify-release"] {
            let dump = try run(productsDirectory.appendingPathComponent(program).path, ["--experimental-dump-help"])
            let tool = try #require(try JSONSerialization.jsonObject(with: dump.stdoutBytes) as? [String: Any])
            walk(try #require(tool["command"] as? [String: Any]), [program])
        }
        #expect(missing.isEmpty, "give these `completion:` (.file(), .directory or .list), or name them here if they take no file: \(missing)")
    }

    @Test func fileOptionsOfferFiles() throws {
        let room = try reviewRoom()
        let all = ["dist", "review-room", "router.manifest", "trust", "verify-release.bash"]
        #expect(try offered("verify-release", "verify-release --trust ", in: room) == all)
        #expect(try offered("verify-release", "verify-release --manifest r", in: room) == ["review-room", "router.manifest"])
        #expect(try offered("glassbox", "glassbox inspect ", in: room).contains("router.manifest"))
    }
}

import ArgumentParser
import Glassbox
import GlassboxReview

/// The `glassbox` command and its subcommands.
public struct GlassboxCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "glassbox",
        abstract: "Merkle manifests of source releases, for source-code transparency centers.",
        discussion: """
            Reference that needs nothing but this binary: glassbox help format (the files), \
            glassbox help policy (the trust policy), glassbox help exit-codes; installed as the \
            manual pages glassbox-format(5), glassbox-policy(5) and glassbox-exit-codes(7). \
            Exit 0 verified, 1 verification failed, 2 bad input, 64 usage.
            """,
        version: GlassboxVersion.string,
        subcommands: [ManifestCommand.self, InspectCommand.self, CheckCommand.self, KeygenCommand.self, KeyCommand.self,
                      SignCommand.self, CheckpointCommand.self, TrustCommand.self, ProveCommand.self,
                      VerifyReleaseCommand.self, DiffCommand.self, ScanCommand.self, LogCommand.self, WitnessCommand.self,
                      RebuildCommand.self, AttestRebuildCommand.self, ExportCommand.self])

    public init() {}

    /// argument-parser's `main`, after answering the reference topics it cannot parse:
    /// `glassbox help TOPIC` (its `help` takes only subcommand names) and `glassbox
    /// verify-release --help-topic TOPIC` (whose required `--trust` would stand in the way).
    public static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        HelpTopic.answerHelpCommand(arguments)
        if arguments.first == VerifyReleaseCommand.configuration.commandName {
            HelpTopic.answerHelpTopicOption(Array(arguments.dropFirst()), command: VerifyReleaseCommand.self)
        }
        main(nil)
    }
}

import ArgumentParser
import Glassbox
import GlassboxReview

/// The `glassbox` command and its subcommands.
public struct GlassboxCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "glassbox",
        abstract: "Merkle manifests of source releases, for source-code transparency centers.",
        version: GlassboxVersion.string,
        subcommands: [ManifestCommand.self, InspectCommand.self, CheckCommand.self, KeygenCommand.self, KeyCommand.self,
                      SignCommand.self, CheckpointCommand.self, TrustCommand.self, ProveCommand.self,
                      VerifyReleaseCommand.self, DiffCommand.self, ScanCommand.self, LogCommand.self, WitnessCommand.self,
                      RebuildCommand.self, AttestRebuildCommand.self, ExportCommand.self])

    public init() {}
}

import GlassboxCLI

GlassboxCommand.main(["check"] + CommandLine.arguments.dropFirst())

import GlassboxCLI

GlassboxCommand.main()

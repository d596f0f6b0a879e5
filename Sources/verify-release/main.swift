import GlassboxCLI

VerifyReleaseCommand.main()

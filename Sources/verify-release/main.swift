import GlassboxReview

// `--help-topic TOPIC` is answered before parsing, as `--help` is, so that the required
// `--trust` does not stand in the way of reading the reference.
HelpTopic.answerHelpTopicOption(Array(CommandLine.arguments.dropFirst()), command: VerifyReleaseCommand.self)
VerifyReleaseCommand.main()

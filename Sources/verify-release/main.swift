import GlassboxReview

VerifyReleaseCommand.main()

// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Glassbox",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "glassbox", targets: ["GlassboxTool"]),
        .executable(name: "verify-release", targets: ["verify-release"]),
        .library(name: "Glassbox", targets: ["Glassbox"]),
        .library(name: "GlassboxScan", targets: ["GlassboxScan"]),
        .library(name: "GlassboxFuzzChecks", targets: ["GlassboxFuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from the system (Debian libgit2-dev, libssl-dev).
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2",
                       providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // The four decompressors a release tarball may use, called directly so that each stops
        // at the end of its one stream (Debian zlib1g-dev, liblzma-dev, libbz2-dev, libzstd-dev).
        .systemLibrary(name: "CCompression",
                       providers: [.apt(["zlib1g-dev", "liblzma-dev", "libbz2-dev", "libzstd-dev"])]),
        // The only Swift that touches C: OpenSSL, and libgit2 plus POSIX directory reads.
        .target(name: "GlassboxCrypto", dependencies: ["COpenSSL"]),
        .target(name: "GlassboxGit", dependencies: ["CGit2", "CCompression", "GlassboxCrypto"]),
        // The hidden-content scan: one file per rule family, outside the verifier's trusted core.
        // Its one C file counts byte values, the loop that sees every byte of a git tree.
        .target(name: "CScanKernel"),
        .target(name: "GlassboxScan", dependencies: ["CScanKernel", "GlassboxGit", "GlassboxCrypto"]),
        // The core: pure values and logic.
        .target(name: "Glassbox", dependencies: ["GlassboxCrypto", "GlassboxGit", "GlassboxScan"]),
        // The reviewer's command and what every command shares: all verify-release links
        // besides the core and the readers.
        .target(name: "GlassboxReview", dependencies: [
            "Glassbox", "GlassboxScan", "GlassboxGit", "GlassboxCrypto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Every other subcommand: parse → call the core → render.
        .target(name: "GlassboxCLI", dependencies: [
            "GlassboxReview", "Glassbox", "GlassboxScan", "GlassboxGit", "GlassboxCrypto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Not "glassbox": the target and its folder would collide with Glassbox on case-insensitive
        // disks. The product still builds the `glassbox` executable.
        .executableTarget(name: "GlassboxTool", dependencies: ["GlassboxCLI"], path: "Sources/glassbox-tool"),
        .executableTarget(name: "verify-release", dependencies: ["GlassboxReview"]),
        // Property checks on hostile input, shared by FuzzTesting/ and the regression tests.
        .target(name: "GlassboxFuzzChecks", dependencies: ["Glassbox", "GlassboxScan", "GlassboxGit", "GlassboxCrypto"]),
        .testTarget(name: "GlassboxTests", dependencies: ["Glassbox", "GlassboxScan", "GlassboxGit", "GlassboxCrypto", "GlassboxFuzzChecks"]),
        .testTarget(name: "EndToEndTests", dependencies: ["GlassboxTool", "verify-release"]),
    ],
    swiftLanguageModes: [.v6]
)

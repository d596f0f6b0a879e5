// swift-tools-version:6.0
import PackageDescription

// Fuzz executables, kept out of the main build. Each is a `main.swift` that hands libFuzzer's
// input to one check in GlassboxFuzzChecks, the library the regression tests replay through.
// Build and run them with `Scripts/fuzz`.
let targets = [
    "manifest", "signed-note", "verifier-key", "trust-policy", "file-proof", "checkpoint",
    "consistency-proof", "entry-bundle", "witness", "gitattributes", "scan-content", "escaping",
    "tree-comparison", "merkle-proofs", "recipe", "rebuild-attestation", "tarball",
]

let package = Package(
    name: "FuzzTesting",
    platforms: [.macOS(.v13)],
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [
        .package(name: "Glassbox", path: ".."),
    ],
    targets: targets.map {
        .executableTarget(
            name: "fuzz-\($0)",
            dependencies: [.product(name: "GlassboxFuzzChecks", package: "Glassbox")],
            path: "Sources/\($0)",
            // libFuzzer supplies `main`; the file only defines LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    },
    swiftLanguageModes: [.v6]
)

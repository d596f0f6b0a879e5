import Foundation
import GlassboxCrypto
import GlassboxGit
import Testing

/// glibc's renameat2 (2.28+), which the Glibc module does not export; RENAME_EXCHANGE swaps two
/// names atomically, the way an attacker would swap a directory for a symlink mid-read.
private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
private let renameExchange: UInt32 = 2

private func loadRenameAt2() -> RenameAt2? {
    dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }
}

/// Stops the swapper thread.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

@Suite struct DirectoryRaceTests {
    /// A tree whose `sub` directory is swapped again and again with `swap`, a symlink to a
    /// directory outside the tree holding files of the same names: no read may ever hash an
    /// outside file. Reads that notice the swap fail with `ReadError`, which is fine.
    @Test func aDirectorySwappedForASymlinkNeverLeadsOutOfTheTree() throws {
        let rename = try #require(loadRenameAt2())
        let base = try temporaryDirectory()
        let tree = base.appendingPathComponent("tree")
        let sub = tree.appendingPathComponent("sub")
        let outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let secret = "outside the tree \(UUID().uuidString)\n"
        var outsideDigests: Set<[UInt8]> = []
        for index in 0..<50 {
            try Data("inside \(index)\n".utf8).write(to: sub.appendingPathComponent("f\(index).txt"))
            let content = bytes(secret + "\(index)")
            try Data(content).write(to: outside.appendingPathComponent("f\(index).txt"))
            outsideDigests.insert(SHA256.hash(content))
        }
        try FileManager.default.createSymbolicLink(atPath: tree.appendingPathComponent("swap").path,
                                                   withDestinationPath: outside.path)

        let stop = Flag()
        let subPath = sub.path
        let swapPath = tree.appendingPathComponent("swap").path
        let swapper = Thread {
            while !stop.isSet { _ = rename(AT_FDCWD, subPath, AT_FDCWD, swapPath, renameExchange) }
        }
        swapper.start()
        defer {
            stop.set()
            while !swapper.isFinished { usleep(1000) }
        }

        var reads = 0, failures = 0, escapes = 0
        let started = Date()
        while reads < 200 && Date().timeIntervalSince(started) < 20 {
            reads += 1
            do {
                let entries = try DirectoryReader.read(root: tree.path, workers: 2)
                escapes += entries.filter { outsideDigests.contains($0.digest) }.count
            } catch is ReadError {
                failures += 1
            }
        }
        #expect(escapes == 0, "\(escapes) outside files hashed in \(reads) reads (\(failures) failed)")
    }

    /// `content(root:path:)` opens every component of the path without following symlinks.
    @Test func contentIsNeverReadThroughASymlinkedDirectory() throws {
        let base = try temporaryDirectory()
        let tree = base.appendingPathComponent("tree")
        let outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("secret\n".utf8).write(to: outside.appendingPathComponent("f.txt"))
        try FileManager.default.createSymbolicLink(atPath: tree.appendingPathComponent("dir").path,
                                                   withDestinationPath: outside.path)
        let error = #expect(throws: ReadError.self) { try DirectoryReader.content(root: tree.path, path: bytes("dir/f.txt")) }
        #expect(error?.message.contains("changed while being read") == true, "\(String(describing: error))")
        #expect(throws: ReadError.self) { try DirectoryReader.content(root: tree.path, path: bytes("../outside/f.txt")) }
        // The symlink itself is still content: its target.
        #expect(try DirectoryReader.content(root: tree.path, path: bytes("dir")) == bytes(outside.path))
    }
}

import Foundation
import Testing

/// Keys and signed manifests of the fixture's `plain` release under distinct origins.
private struct Workspace {
    let dir: URL
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init(_ name: String = #function) throws {
        dir = try temporaryDirectory(name)
        #expect(try glassbox("keygen", "--name", "log.example/releases", "-o", file("logkey")).status == 0)
        #expect(try glassbox("keygen", "--name", "vendor.example/r", "-o", file("vendor")).status == 0)
    }

    /// An unsigned manifest of the plain release under origin `vendor.example/plain/<name>`.
    func unsigned(_ name: String) throws -> String {
        let path = file("\(name).unsigned")
        if !FileManager.default.fileExists(atPath: path) {
            let made = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                    "--origin", "vendor.example/plain/\(name)", "--version", name, "-o", path)
            #expect(made.status == 0, "\(made.stderr)")
        }
        return path
    }

    /// The same manifest signed by the vendor key.
    func signed(_ name: String) throws -> String {
        let path = file("\(name).manifest")
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.copyItem(atPath: try unsigned(name), toPath: path)
            #expect(try glassbox("sign", "--key", file("vendor.key"), path).status == 0)
        }
        return path
    }

    /// A new log holding the signed manifests `names`.
    func log(_ log: String, _ names: [String]) throws -> String {
        let path = file(log)
        let made = try glassbox("log", "init", path, "--origin", "log.example/releases", "--key", file("logkey.key"))
        #expect(made.status == 0, "\(made.stderr)")
        if !names.isEmpty {
            let added = try run(productsDirectory.appendingPathComponent("glassbox").path, ["log", "add", path] + (try names.map(signed)))
            #expect(added.status == 0, "\(added.stderr)")
        }
        return path
    }
}

private func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// The file type bits of `path` itself (lstat: a symlink is a symlink).
private func fileType(_ path: String) -> mode_t? {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
}

/// Starts `glassbox` with no output kept; the caller waits.
private func start(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = productsDirectory.appendingPathComponent("glassbox")
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Starts `glassbox` with SIGTERM at its default action and unblocked (Foundation's Process
/// hands children the mask of the thread that starts them, SIGTERM blocked); the caller waits.
private func spawnWithDefaultSignals(_ arguments: [String]) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var signals = sigset_t()
    sigemptyset(&signals)
    posix_spawnattr_setsigmask(&attributes, &signals)
    sigaddset(&signals, SIGTERM)
    posix_spawnattr_setsigdefault(&attributes, &signals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let path = productsDirectory.appendingPathComponent("glassbox").path
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd in [Int32(0), 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
    return pid
}

/// Temporary files left in a directory.
private func temporaries(_ dir: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
}

@Suite struct SharedFileTests {
    // MARK: log add never signs a fork

    /// An entry bundle edited on disk makes `log add` refuse, instead of signing a checkpoint
    /// that does not extend the last one it signed.
    @Test func logAddRefusesWhenAnEntryBundleWasEdited() throws {
        let w = try Workspace()
        let log = try w.log("log", ["1.0", "1.1"])
        let bundle = log + "/tile/entries/000.p/2"
        var edited = try #require(bytes(bundle))
        let at = try #require(edited.range(of: Data("plain/1.1".utf8)))
        edited[at.upperBound - 1] = UInt8(ascii: "9")
        try edited.write(to: URL(fileURLWithPath: bundle))
        let checkpoint = bytes(log + "/checkpoint")

        let added = try glassbox("log", "add", log, try w.signed("1.2"))
        #expect(added.status == 1)
        #expect(added.stderr.hasPrefix("glassbox: error: "))
        #expect(added.stderr.contains("does not reproduce the last checkpoint this log signed"))
        #expect(added.stderr.contains("size 2"))
        #expect(added.stderr.contains("glassbox: hint: "))
        #expect(bytes(log + "/checkpoint") == checkpoint, "no new checkpoint is signed")
    }

    /// A checkpoint file rolled back to an older one makes `log add` refuse, instead of
    /// overwriting the newer checkpoint's tiles and signing a second tree of its size.
    @Test func logAddRefusesARolledBackCheckpoint() throws {
        let w = try Workspace()
        let log = try w.log("log", ["1.0", "1.1"])
        let older = try #require(bytes(log + "/checkpoint"))
        #expect(try glassbox("log", "add", log, try w.signed("1.2")).status == 0)
        let newer = try #require(bytes(log + "/checkpoint"))
        let tiles = ["tile/entries/000.p/3", "tile/0/000.p/3"].map { bytes(log + "/" + $0) }
        try older.write(to: URL(fileURLWithPath: log + "/checkpoint"))

        let added = try glassbox("log", "add", log, try w.signed("1.2-other"))
        #expect(added.status == 1)
        #expect(added.stderr.contains("glassbox: error: "))
        #expect(added.stderr.contains("the checkpoint file (size 2) is older than the newest checkpoint this log published (size 3"))
        #expect(added.stderr.contains("glassbox: hint: "))
        #expect(bytes(log + "/checkpoint") == older, "nothing is signed")
        #expect(["tile/entries/000.p/3", "tile/0/000.p/3"].map { bytes(log + "/" + $0) } == tiles, "the newer tree's tiles are kept")
        // `log verify` says so too, and putting the newest checkpoint back lets the log go on.
        #expect(try glassbox("log", "verify", log).status == 1)
        try newer.write(to: URL(fileURLWithPath: log + "/checkpoint"))
        #expect(try glassbox("log", "add", log, try w.signed("1.3")).status == 0)
        #expect(try glassbox("log", "verify", log).status == 0)
    }

    /// An append killed after recording its checkpoint but before publishing it is finished by
    /// the next append, which publishes that same tree and builds on it; a torn record line is
    /// dropped.
    @Test func logAddFinishesAnAppendKilledBetweenRecordAndCheckpoint() throws {
        let w = try Workspace()
        let log = try w.log("log", ["1.0"])
        let older = try #require(bytes(log + "/checkpoint"))
        #expect(try glassbox("log", "add", log, try w.signed("1.1")).status == 0)
        // As if killed after `signed 2 …` was fsynced, before the checkpoint was renamed into
        // place, while a later line was half written.
        let recordPath = log + "/.glassbox/signed-checkpoints"
        let record = try String(contentsOfFile: recordPath, encoding: .utf8)
        let lines = record.split(separator: "\n")
        #expect(lines.last?.hasPrefix("published 2 ") == true)
        try Data((lines.dropLast().joined(separator: "\n") + "\npubl").utf8).write(to: URL(fileURLWithPath: recordPath))
        try older.write(to: URL(fileURLWithPath: log + "/checkpoint"))
        #expect(try glassbox("log", "verify", log).status == 0)

        let added = try glassbox("log", "add", log, try w.signed("1.2"))
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("added at index 2"))
        #expect(try glassbox("log", "verify", log).status == 0)
        #expect(try glassbox("log", "prove", log, try w.signed("1.1")).status == 0)
        let after = try String(contentsOfFile: recordPath, encoding: .utf8).split(separator: "\n")
        #expect(after.allSatisfy { $0.hasPrefix("signed ") || $0.hasPrefix("published ") }, "\(after)")
        #expect(after.last?.hasPrefix("published 3 ") == true)
    }

    /// A symlink planted in the log where an append will write a tile is replaced, not
    /// followed: the file it points at is untouched.
    @Test func logAddDoesNotFollowASymlinkPlantedInTheLog() throws {
        let w = try Workspace()
        let log = try w.log("log", ["1.0"])
        let victim = w.file("victim")
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createDirectory(atPath: log + "/tile/entries/000.p", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: log + "/tile/entries/000.p/2", withDestinationPath: victim)
        #expect(try glassbox("log", "add", log, try w.signed("1.1")).status == 0)
        #expect(bytes(victim) == Data("keep me\n".utf8))
        #expect(fileType(log + "/tile/entries/000.p/2") == S_IFREG)
        #expect(try glassbox("log", "verify", log).status == 0)
    }

    // MARK: witness state

    /// Two cosign runs at once, on the two sides of a fork (same size, different roots): the
    /// state is decided under a lock, so exactly one is cosigned.
    @Test func concurrentWitnessCosignsOnAForkCosignOnlyOne() throws {
        let w = try Workspace()
        #expect(try glassbox("keygen", "--name", "center.example/witness", "--witness", "-o", w.file("witness")).status == 0)
        let logA = try w.log("logA", ["1.0", "for-a"])
        let logB = try w.log("logB", ["1.0", "for-b"])
        #expect(bytes(logA + "/checkpoint") != bytes(logB + "/checkpoint"))
        for attempt in 0..<20 {
            let state = w.file("state-\(attempt)")
            let runs = try [logA, logB].map {
                try start(["witness", "cosign", "--key", w.file("witness.key"), "--state", state,
                           "--log-key", w.file("logkey.pub"), $0 + "/checkpoint"])
            }
            runs.forEach { $0.waitUntilExit() }
            let statuses = runs.map(\.terminationStatus).sorted()
            #expect(statuses == [0, 1], "attempt \(attempt): exit statuses \(statuses)")
        }
    }

    // MARK: sign

    /// Three signers at once on one manifest: every run succeeds and every signature is in
    /// the file.
    @Test func concurrentSignersKeepEverySignature() throws {
        let w = try Workspace()
        let names = ["one", "two", "three"]
        for name in names {
            #expect(try glassbox("keygen", "--name", "\(name).example/k", "-o", w.file(name)).status == 0)
        }
        let unsigned = try w.unsigned("1.0")
        for attempt in 0..<20 {
            let manifest = w.file("m-\(attempt)")
            try FileManager.default.copyItem(atPath: unsigned, toPath: manifest)
            let runs = try names.map { try start(["sign", "--key", w.file("\($0).key"), manifest]) }
            runs.forEach { $0.waitUntilExit() }
            #expect(runs.map(\.terminationStatus) == [0, 0, 0], "attempt \(attempt)")
            let text = try String(contentsOfFile: manifest, encoding: .utf8)
            let signatures = text.split(separator: "\n").filter { $0.hasPrefix("— ") }
            #expect(Set(signatures.map { $0.split(separator: " ")[1] }) == Set(names.map { "\($0).example/k" }),
                    "attempt \(attempt): \(signatures.count) signatures")
            #expect(signatures.count == 3)
        }
        let checkpoint = try glassbox("checkpoint", w.file("m-19"))
        #expect(checkpoint.status == 0)
    }

    /// A symlinked manifest stays a symlink, and the file it names gets the signature and keeps
    /// its mode 0600 and its owner.
    @Test func signKeepsASymlinkAndTheModeAndOwnerOfItsTarget() throws {
        let w = try Workspace()
        let real = w.file("real.manifest"), link = w.file("link.manifest")
        try FileManager.default.copyItem(atPath: try w.unsigned("1.0"), toPath: real)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: real)
        let root = getuid() == 0
        if root { #expect(chown(real, 4321, 4322) == 0) }
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.manifest")

        let signed = try glassbox("sign", "--key", w.file("vendor.key"), link)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(fileType(link) == S_IFLNK)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "real.manifest")
        var info = stat()
        #expect(lstat(real, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFREG)
        #expect(info.st_mode & 0o7777 == 0o600)
        if root { #expect(info.st_uid == 4321 && info.st_gid == 4322) }
        #expect(try String(contentsOfFile: real, encoding: .utf8).contains("\n— vendor.example/r "))
        #expect(try temporaries(w.dir).isEmpty)
    }

    /// A 0600 manifest signed in place stays 0600.
    @Test func signKeepsAPrivateManifestPrivate() throws {
        let w = try Workspace()
        let manifest = w.file("private.manifest")
        try FileManager.default.copyItem(atPath: try w.unsigned("1.0"), toPath: manifest)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: manifest)
        #expect(try glassbox("sign", "--key", w.file("vendor.key"), manifest).status == 0)
        var info = stat()
        #expect(lstat(manifest, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
    }

    /// A key written with `--force` over a file others could read is still 0600: a file's mode
    /// is kept on replacement, but never widens a secret.
    @Test func keygenOverAReadableFileKeepsTheKeyPrivate() throws {
        let w = try Workspace()
        #expect(FileManager.default.createFile(atPath: w.file("again.key"), contents: Data(), attributes: [.posixPermissions: 0o644]))
        #expect(try glassbox("keygen", "--name", "again.example/k", "--force", "-o", w.file("again")).status == 0)
        var info = stat()
        #expect(lstat(w.file("again.key"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
    }

    // MARK: -o onto things that are not regular files

    /// `-o` onto a character device writes through it and leaves it a device. The device is a
    /// private copy of /dev/null (mknod, as root), so the system's is never at risk.
    @Test(.enabled(if: getuid() == 0, "making a device node needs root"))
    func outputOntoADeviceLeavesTheDevice() throws {
        let w = try Workspace()
        let device = w.file("null")
        #expect(mknod(device, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        let made = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                "--origin", "x.example/y", "-o", device)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(fileType(device) == S_IFCHR)
        #expect(try temporaries(w.dir).isEmpty)
    }

    /// `-o` onto a fifo writes into it and leaves it a fifo.
    @Test func outputOntoAFifoWritesIntoIt() throws {
        let w = try Workspace()
        let fifo = w.file("fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        // A reader is open before the writer starts, so the writer's open does not wait; the
        // manifest is far smaller than a pipe's buffer.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let made = try glassbox("manifest", "--repo", fixtureRoot.appendingPathComponent("plain").path, "--rev", "v2.0.0",
                                "--origin", "x.example/y", "-o", fifo)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(fileType(fifo) == S_IFIFO)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = read(reader, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        #expect(text.hasPrefix("x.example/y\n"), "read \(count) bytes from the fifo")
    }

    // MARK: interrupted writes

    /// `sign` stopped by SIGTERM while its temporary file is being written removes it. The
    /// manifest is large (20 000 entries, some MB) so the write takes long enough to catch;
    /// tries are bounded, and at least one must stop it mid-write.
    @Test func signStoppedMidWriteLeavesNoTemporaryFile() throws {
        let w = try Workspace()
        let tree = w.dir.appendingPathComponent("tree")
        defer { try? FileManager.default.removeItem(at: w.dir) }
        for i in 0..<20_000 {
            let sub = tree.appendingPathComponent("d\(i % 100)")
            if i < 100 { try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true) }
            #expect(FileManager.default.createFile(atPath: sub.appendingPathComponent("a-file-with-a-longer-name-\(i).txt").path,
                                                   contents: Data("\(i)\n".utf8)))
        }
        let original = w.file("big.unsigned")
        #expect(try glassbox("manifest", "--dir", tree.path, "--origin", "x.example/big", "--quiet", "-o", original).status == 0)
        let dir = w.dir.appendingPathComponent("signing")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let manifest = dir.appendingPathComponent("big.manifest").path
        let unsignedBytes = bytes(original)
        var stoppedMidWrite = 0
        for _ in 0..<10 where stoppedMidWrite < 2 {
            try? FileManager.default.removeItem(atPath: manifest)
            try FileManager.default.copyItem(atPath: original, toPath: manifest)
            let pid = try spawnWithDefaultSignals(["sign", "--key", w.file("vendor.key"), manifest])
            var status: Int32 = 0
            var sawTemporary = false
            while waitpid(pid, &status, WNOHANG) == 0 {
                if !sawTemporary, !(try temporaries(dir).isEmpty) {
                    sawTemporary = true
                    kill(pid, SIGTERM)
                }
                usleep(500)
            }
            // Killed by SIGTERM (the handler re-raises it once the temporary is gone).
            if sawTemporary && status & 0x7F == SIGTERM {
                stoppedMidWrite += 1
                // Untouched, or signed if the rename won the race with the signal.
                let now = bytes(manifest)
                #expect(now == unsignedBytes || now?.range(of: Data("\n— vendor.example/r ".utf8)) != nil)
            }
            let left = try temporaries(dir)
            #expect(left.isEmpty, "left: \(left)")
        }
        #expect(stoppedMidWrite >= 1, "no try stopped sign while it was writing")
    }
}

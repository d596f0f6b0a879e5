#if canImport(Glibc)
import Glibc
#endif
import GlassboxCrypto

// Everything a rebuild does to the host: writing the verified tree to a private directory,
// running programs (bubblewrap, dpkg-query, diffoscope) with a time limit, and removing what
// it wrote. The core decides what to run; only this file spawns processes.

/// A rebuild could not be set up or run here: a missing sandbox, an unwritable directory.
public struct SandboxError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How a program ended.
public struct ProgramResult: Sendable {
    public init(status: Int32?, timedOut: Bool, output: [UInt8]) {
        self.status = status
        self.timedOut = timedOut
        self.output = output
    }

    /// The exit status, or nil when it was killed by a signal or the time limit.
    public var status: Int32?
    public var timedOut: Bool
    /// Standard output and error together, at most the limit asked for (the end is kept).
    public var output: [UInt8]
}

public enum ProgramRunner {
    /// Runs `argv` (an absolute program path first) with exactly `environment`, no standard input,
    /// and standard output and error to a private file of which the last `outputLimit` bytes are
    /// returned. After `timeout` seconds its whole process group is killed.
    /// - Throws: `SandboxError` when the program cannot be started.
    public static func run(_ argv: [String], environment: [String], timeout: Int, outputLimit: Int = 64 << 10,
                           logDirectory: String) throws -> ProgramResult {
        let logPath = logDirectory + "/.log-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(logPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so the time limit ends everything it started.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        closeOnExec()
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard spawned == 0 else {
            throw SandboxError("\(argv[0]) cannot be started: \(String(cString: strerror(spawned)))")
        }
        let deadline = monotonicSeconds() + Double(timeout)
        var status: Int32 = 0
        var timedOut = false
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid || (done < 0 && errno != EINTR) { break }
            if monotonicSeconds() > deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(5_000)
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        let exited = status & 0x7F == 0
        return ProgramResult(status: exited && !timedOut ? (status >> 8) & 0xFF : nil, timedOut: timedOut,
                             output: readTail(logPath, limit: outputLimit))
    }

    /// The absolute path of `name` in `/usr/bin` or `/bin`, or nil.
    public static func find(_ name: String, in directories: [String] = ["/usr/bin", "/bin", "/usr/local/bin"]) -> String? {
        directories.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// Marks every descriptor above 2 close-on-exec: an inherited one (a manifest, a directory
    /// of the review copy, a pipe of whoever started us) would reach into the sandbox, where
    /// `/proc/self/fd` opens it again.
    private static func closeOnExec() {
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let fd = Int32(name), fd > 2, fd != own else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    private static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func readTail(_ path: String, limit: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        lseek(fd, max(0, size - off_t(limit)), SEEK_SET)
        var out = [UInt8](repeating: 0, count: min(Int(max(size, 0)), limit))
        let count = out.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? Array(out.prefix(count)) : []
    }
}

/// A private directory, `/build` inside the sandbox: `src` (the tree), `out` (`$OUT`), `home`
/// (`$HOME`) and `tmp` (mounted at `/tmp`).
public final class BuildDirectory: @unchecked Sendable {
    /// The directory made; it holds `build` and, outside the sandbox's view, the logs.
    private let top: String
    /// What the sandbox sees as `/build`.
    public var path: String { top + "/build" }
    public var source: String { path + "/src" }
    public var output: String { path + "/out" }
    /// Where program output is kept while it runs: beside `/build`, out of the build's reach.
    public var logDirectory: String { top }

    /// Makes a new directory (mode 0700) under `parent`.
    /// - Throws: `SandboxError` when it cannot be made.
    public init(parent: String) throws {
        var template = Array((parent + "/glassbox-rebuild-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SandboxError("\(parent): cannot make a build directory: \(String(cString: strerror(errno)))")
        }
        // Absolute, so bubblewrap binds what was made whatever the working directory.
        guard let resolved = realpath(made, nil) else {
            throw SandboxError("\(parent): the build directory cannot be resolved: \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        top = String(cString: resolved)
        for name in ["build", "build/src", "build/out", "build/home", "build/tmp"] where mkdir(top + "/" + name, 0o755) != 0 {
            throw SandboxError("\(top)/\(name): cannot be made: \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the directory and everything in it (without following symlinks).
    public func remove() {
        _ = try? ProgramRunner.run(["/bin/rm", "-rf", "--one-file-system", "--", top], environment: [], timeout: 600,
                                   logDirectory: "/tmp")
    }

    /// The total bytes of regular files under `root`, counted without following symlinks, up
    /// to `limit` (the walk stops past it).
    public static func usage(_ root: String, limit: UInt64) -> UInt64 {
        var total: UInt64 = 0
        var pending = [root]
        while let directory = pending.popLast(), total <= limit {
            guard let dir = opendir(directory) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name == "." || name == ".." { continue }
                var st = stat()
                let child = directory + "/" + name
                guard lstat(child, &st) == 0 else { continue }
                if st.st_mode & S_IFMT == S_IFDIR { pending.append(child) } else { total += UInt64(max(st.st_size, 0)) }
            }
        }
        return total
    }
}

/// Writes a tree's files as a reader shows them (a `ContentInspector`) below a fresh root:
/// regular files with mode 0644 or 0755, directories as the paths imply. Symlinks are made
/// only in `finish()`, after every file, so no file is ever written through one.
public final class TreeWriter: @unchecked Sendable {
    private let root: String
    private let lock = Mutex()
    private var links: [(path: [UInt8], target: [UInt8])] = []
    private var failure: SandboxError?

    private let only: Set<[UInt8]>?

    /// With `only`, paths not in it are not written: a tree read may hold more than was verified.
    /// - Precondition: `root` is an empty directory this process made.
    public init(root: String, only: Set<[UInt8]>? = nil) {
        self.root = root
        self.only = only
    }

    /// The inspector to give a tree reader.
    public var inspector: ContentInspector {
        { [self] visit in sink(for: visit) }
    }

    private func sink(for visit: ContentVisit) -> (any ContentSink)? {
        if let only, !only.contains(visit.path) { return nil }
        switch visit.kind {
        case .link:
            lock.locked { links.append((visit.path, visit.linkTarget)) }
            return nil
        case .submodule:
            return nil
        case .file, .exec:
            do {
                try makeParents(visit.path)
                let fd = withCPath(Array(root.utf8) + [UInt8(ascii: "/")] + visit.path) {
                    open($0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, visit.kind == .exec ? 0o755 : 0o644)
                }
                guard fd >= 0 else { throw SandboxError("\(Escaping.escape(visit.path)): cannot be written: \(String(cString: strerror(errno)))") }
                // The mode asked for, whatever this process's umask.
                fchmod(fd, visit.kind == .exec ? 0o755 : 0o644)
                return FileSink(fd: fd, path: visit.path, owner: self)
            } catch {
                record(error as? SandboxError ?? SandboxError("\(error)"))
                return nil
            }
        }
    }

    /// Makes the symlinks and reports the first write that failed.
    /// - Throws: `SandboxError` naming the path.
    public func finish() throws {
        if let failure { throw failure }
        for (path, target) in links {
            try makeParents(path)
            let made = withCPath(target) { t in withCPath(Array(root.utf8) + [UInt8(ascii: "/")] + path) { symlink(t, $0) } }
            guard made == 0 else { throw SandboxError("\(Escaping.escape(path)): the symlink cannot be made: \(String(cString: strerror(errno)))") }
        }
    }

    fileprivate func record(_ error: SandboxError) {
        lock.locked { if failure == nil { failure = error } }
    }

    /// Makes each directory above `path`, refusing to pass through anything but a directory
    /// this writer made (release paths have no `..` and symlinks are not made yet).
    private func makeParents(_ path: [UInt8]) throws {
        var prefix = Array(root.utf8)
        let parts = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropLast()
        for part in parts {
            prefix += [UInt8(ascii: "/")] + part
            let made = withCPath(prefix) { mkdir($0, 0o755) }
            if made != 0 && errno != EEXIST {
                throw SandboxError("\(Escaping.escape(path)): a directory cannot be made: \(String(cString: strerror(errno)))")
            }
            var st = stat()
            guard withCPath(prefix, { lstat($0, &st) }) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw SandboxError("\(Escaping.escape(path)): a parent is not a directory")
            }
        }
    }

    private final class FileSink: ContentSink {
        let fd: Int32
        let path: [UInt8]
        let owner: TreeWriter
        var failed = false
        init(fd: Int32, path: [UInt8], owner: TreeWriter) {
            self.fd = fd
            self.path = path
            self.owner = owner
        }
        func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
            var offset = 0
            while offset < chunk.count {
                let written = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    failed = true
                    owner.record(SandboxError("\(Escaping.escape(path)): cannot be written: \(String(cString: strerror(errno)))"))
                    return false
                }
                offset += written
            }
            return true
        }
        func finish() { close(fd) }
    }
}

/// A lock for the few shared fields above.
private final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// Runs build commands under bubblewrap: new user, network, PID, IPC, UTS and mount namespaces
/// (no network at all, not even the host's loopback), no capabilities, the system read-only,
/// only the build directory writable, a cleared environment.
public enum Sandbox {
    /// bubblewrap's path, or nil when it is not installed.
    public static var bubblewrap: String? { ProgramRunner.find("bwrap") }

    /// Checks that bubblewrap can make its namespaces here (a container may forbid them).
    /// - Throws: `SandboxError` with bubblewrap's own message.
    public static func check(_ directory: BuildDirectory) throws {
        guard bubblewrap != nil else {
            throw SandboxError("bubblewrap (bwrap) is not installed; the build cannot be isolated")
        }
        let result = try run("true", in: directory, environment: [], timeout: 60, fileSizeLimit: 1 << 20)
        guard result.status == 0 else {
            throw SandboxError("bubblewrap cannot make a sandbox here: \(String(decoding: result.output, as: UTF8.self).trimmingSuffixNewlines)")
        }
    }

    /// Runs one shell command line with `/bin/sh -e -c`, in `/build/src`, umask 022, no file
    /// larger than `fileSizeLimit` bytes, killed after `timeout` seconds.
    /// - Throws: `SandboxError` when bubblewrap cannot be started.
    public static func run(_ commandLine: String, in directory: BuildDirectory, environment: [(String, String)],
                           timeout: Int, fileSizeLimit: UInt64) throws -> ProgramResult {
        guard let bwrap = bubblewrap else { throw SandboxError("bubblewrap (bwrap) is not installed") }
        // Run by root, bubblewrap would keep every capability inside its namespaces: drop them all.
        var argv = [bwrap, "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv"]
        for (name, value) in environment { argv += ["--setenv", name, value] }
        argv += ["--ro-bind", "/usr", "/usr"]
        // Debian's merged /usr: /bin, /lib… are symlinks into /usr; elsewhere, directories.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            var st = stat()
            guard lstat(top, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFLNK {
                var target = [CChar](repeating: 0, count: 4096)
                let count = readlink(top, &target, target.count - 1)
                guard count > 0 else { continue }
                argv += ["--symlink", String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self), top]
            } else if st.st_mode & S_IFMT == S_IFDIR {
                argv += ["--ro-bind", top, top]
            }
        }
        // The little of /etc a compiler needs: `cc` and friends are /etc/alternatives links.
        argv += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                 "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                 "--dev", "/dev", "--proc", "/proc",
                 "--bind", directory.path, "/build", "--bind", directory.path + "/tmp", "/tmp",
                 "--chdir", "/build/src", "--remount-ro", "/", "--",
                 // dash's `ulimit -f` counts 512-byte blocks.
                 "/bin/sh", "-c", "umask 022 && ulimit -f \(max(1, fileSizeLimit / 512)) && exec /bin/sh -e -c \"$1\"", "sh", commandLine]
        return try ProgramRunner.run(argv, environment: ["PATH=/usr/bin:/bin"], timeout: timeout, logDirectory: directory.logDirectory)
    }
}

extension String {
    fileprivate var trimmingSuffixNewlines: String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}

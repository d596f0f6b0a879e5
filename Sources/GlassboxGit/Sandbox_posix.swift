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
        let log = open(logPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard log >= 0 else {
            throw SandboxError("\(logPath): cannot be made: \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            defer { close(log) }
            pid = try spawn(argv, environment: environment, descriptors: [1: log, 2: log])
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

    /// Starts `argv` (an absolute program path first) with exactly `environment`, standard
    /// input from /dev/null, in its own process group, with `descriptors` (child number: this
    /// process's descriptor) and no other descriptor of this process.
    /// - Throws: `SandboxError` when the program cannot be started.
    public static func spawn(_ argv: [String], environment: [String], descriptors: [Int32: Int32]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Above every target first, so no dup2 below overwrites a source still to be moved.
        var lifted: [Int32] = []
        defer { lifted.forEach { close($0) } }
        for (target, source) in descriptors.sorted(by: { $0.key < $1.key }) {
            let high = fcntl(source, F_DUPFD_CLOEXEC, 64)
            guard high >= 0 else { throw SandboxError("a descriptor cannot be passed: \(String(cString: strerror(errno)))") }
            lifted.append(high)
            posix_spawn_file_actions_adddup2(&actions, high, target)
        }
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
        return pid
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

/// A private directory on the host (mode 0700) for one rebuild. `src` holds the verified tree
/// as written and checked; the sandbox starts from a copy of it. `/build`, `/tmp` and
/// `/dev/shm` of the sandbox are not here: they live on one tmpfs, limited in bytes and in
/// files, that is mounted only in the sandbox's own mount namespace (at `mnt`, which stays
/// empty on the host). The host reaches that file system only through the descriptors it
/// opened before any build command ran, never by a name the build could have changed.
public final class BuildDirectory: @unchecked Sendable {
    /// The directory made; it holds `src`, `mnt` and, with `--keep`, `build`.
    private let top: String
    /// The copy of the sandbox's `/build` made after the build when it is kept (`keepCopy()`).
    public var path: String { top + "/build" }
    /// The verified tree, written and checked by the host; the build never sees this one.
    public var source: String { top + "/src" }
    /// Where the build file system is mounted, in the sandbox's mount namespace only.
    var mountPoint: String { top + "/mnt" }
    /// Where program output is kept while it runs: beside the tree, out of the build's reach.
    public var logDirectory: String { top }

    /// The build file system's root, its `build` (`/build`) and `build/out` (`$OUT`), each
    /// opened once, before the build started; -1 until then.
    fileprivate(set) var mountFD: Int32 = -1
    fileprivate(set) var buildFD: Int32 = -1
    fileprivate(set) var outFD: Int32 = -1

    /// `$OUT` as the directory made before the build, named through this process's descriptor
    /// of it (`/proc/self/fd/N`): whatever the build renamed or replaced, this is that directory.
    public var output: String { "/proc/self/fd/\(outFD)" }

    /// Makes a new directory (mode 0700) under `parent`.
    /// - Throws: `SandboxError` when it cannot be made.
    public init(parent: String) throws {
        var template = Array((parent + "/glassbox-rebuild-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SandboxError("\(parent): cannot make a build directory: \(String(cString: strerror(errno)))")
        }
        // Absolute and without symlinks: the sandbox's launcher mounts on it, and the host
        // walks to that mount component by component.
        guard let resolved = realpath(made, nil) else {
            throw SandboxError("\(parent): the build directory cannot be resolved: \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        top = String(cString: resolved)
        for (name, mode) in [("src", mode_t(0o755)), ("mnt", mode_t(0o700))] where mkdir(top + "/" + name, mode) != 0 {
            throw SandboxError("\(top)/\(name): cannot be made: \(String(cString: strerror(errno)))")
        }
        // The mode asked for, whatever the umask: `cp -a` gives it to /build/src.
        chmod(source, 0o755)
    }

    deinit { closeDescriptors() }

    private func closeDescriptors() {
        for fd in [outFD, buildFD, mountFD] where fd >= 0 { close(fd) }
        (outFD, buildFD, mountFD) = (-1, -1, -1)
    }

    /// Copies the sandbox's `/build` as the build left it to `path`, symlinks as symlinks, to
    /// look at afterwards. Nothing in it is followed: `cp -a` copies what it finds.
    /// - Throws: `SandboxError` with cp's message.
    public func keepCopy() throws {
        guard buildFD >= 0 else { return }
        let result = try ProgramRunner.run(["/bin/cp", "-a", "--", "/proc/\(getpid())/fd/\(buildFD)", path],
                                           environment: ["PATH=/usr/bin:/bin"], timeout: 3600, logDirectory: top)
        guard result.status == 0 else {
            throw SandboxError("\(path): the build directory cannot be kept: \(String(decoding: result.output, as: UTF8.self).trimmingSuffixNewlines)")
        }
    }

    /// Removes the directory and everything in it (without following symlinks); the build
    /// file system goes with the last descriptor of it.
    public func remove() {
        closeDescriptors()
        _ = try? ProgramRunner.run(["/bin/rm", "-rf", "--one-file-system", "--", top], environment: [], timeout: 600,
                                   logDirectory: "/tmp")
    }
}

/// A regular file opened below a directory one component at a time, never through a
/// symlink, and kept open: every later read, and every program handed `procPath`, sees this
/// very file, whatever is renamed meanwhile.
public final class HeldFile: @unchecked Sendable {
    public let fd: Int32
    public let size: UInt64

    /// Opens `path` (a release path) below `root`; `root` itself is opened as named.
    /// - Throws: `SandboxError` naming the path: a symlink or a non-directory on the way, or
    ///   not a regular file at the end (a fifo, a device, a directory).
    public init(root: String, path: [UInt8]) throws {
        let shown = root + "/" + Escaping.escape(path)
        var current = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw SandboxError("\(root): cannot be opened: \(String(cString: strerror(errno)))") }
        let parts = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            let flags = last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
            let next = withCPath(Array(part)) { openat(current, $0, flags) }
            let failure = errno
            close(current)
            guard next >= 0 else {
                throw SandboxError("\(shown): cannot be opened without following a symlink: \(String(cString: strerror(failure)))")
            }
            current = next
        }
        var st = stat()
        guard fstat(current, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(current)
            throw SandboxError("\(shown): is not a regular file")
        }
        fd = current
        size = UInt64(max(st.st_size, 0))
    }

    deinit { close(fd) }

    /// The file as this process holds it, for another program: `/proc/PID/fd/N`.
    public var procPath: String { "/proc/\(getpid())/fd/\(fd)" }

    /// The whole content, read from the start.
    /// - Throws: `SandboxError` when it is larger than `limit` or cannot be read.
    public func read(limit: Int = Int.max) throws -> [UInt8] {
        guard size <= UInt64(limit) else { throw SandboxError("the file is larger than \(limit) bytes") }
        var out = [UInt8](repeating: 0, count: Int(size))
        var offset = 0
        while offset < out.count {
            let count = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SandboxError("the file cannot be read (it changed size)") }
            offset += count
        }
        return out
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

/// Linux's O_PATH (010000000 on every architecture Debian builds Swift for), which Glibc's
/// module does not export: a descriptor that only names a directory, to walk through.
private let openPath: Int32 = 0o10_000_000

/// How far a build may go: bytes and files (inodes) on its one file system.
public struct BuildLimits: Sendable {
    public var bytes: UInt64
    public var files: UInt64
    public init(bytes: UInt64, files: UInt64) {
        self.bytes = bytes
        self.files = files
    }
}

/// How a sandboxed build ended.
public struct SandboxRun: Sendable {
    /// The sandbox's exit status (the failing command's, or 0), nil when killed.
    public var status: Int32?
    public var timedOut: Bool
    /// Standard output and error of the whole build, its last 64 KiB.
    public var output: [UInt8]
    /// The build file system was made and the tree copied to it; false means nothing ran.
    public var made: Bool
    /// The index of the last command that started, nil when none did (the sandbox could not
    /// be made).
    public var lastStarted: Int?
    /// The index and exit status of the command that failed.
    public var failedIndex: Int?
    public var failedStatus: Int32?
    /// The build file system had no byte or no inode left when a command failed or at the end.
    public var full: Bool
    /// What `/build/out` was at the end when it is no longer the directory made for it.
    public var outReplaced: String?
}

/// Runs build commands under bubblewrap: new user, network, PID, IPC, UTS and mount namespaces
/// (no network at all, not even the host's loopback), no capabilities, the system read-only,
/// only the build file system writable, a cleared environment.
public enum Sandbox {
    /// bubblewrap's path, or nil when it is not installed.
    public static var bubblewrap: String? { ProgramRunner.find("bwrap") }
    /// util-linux's `unshare`, which makes the namespace where the build file system is mounted.
    public static var unshare: String? { ProgramRunner.find("unshare") }

    /// Mounts the build file system, run by `unshare` as root of a new user namespace (the
    /// caller's own user outside), in a new mount namespace: a tmpfs of `$3` bytes and `$4`
    /// inodes on `$1`, holding `build/{src,out,home}`, `tmp` and `shm`, with `$2` copied to
    /// `build/src`. Says `ready` on descriptor 4 and becomes the rest of its arguments (bubblewrap).
    /// Nothing of the build has run yet: every name here is one this script just made.
    static let launcher = """
        set -e
        mount -t tmpfs -o "size=$3,nr_inodes=$4,mode=0755" glassbox-build "$1"
        mkdir "$1/build" "$1/build/out" "$1/build/home" "$1/tmp" "$1/shm"
        chmod 1777 "$1/tmp" "$1/shm"
        cp -a -- "$2" "$1/build/src"
        printf ready >&4
        exec 4>&-
        shift 4
        exec "$@"
        """

    /// Runs each argument with `/bin/sh -e -c` in order, inside the sandbox, and stops at the
    /// first that fails. Says on descriptor 5 which one starts and how it ended (with the
    /// free blocks and inodes of /build at that moment); the commands never get descriptor 5.
    static let runner = """
        exec 3<&-
        umask 022
        n=0
        for line do
            n=$((n + 1))
            printf 'start %s\\n' "$n" >&5
            s=0
            /bin/sh -e -c "$line" 5>&- || s=$?
            printf 'end %s %s %s\\n' "$n" "$s" "$(stat -f -c '%a %d' /build 2>/dev/null || echo - -)" >&5
            [ "$s" -eq 0 ] || exit "$s"
        done
        """

    /// Runs `commands` (shell command lines) one after another in ONE sandbox, in
    /// `/build/src`, umask 022, on a file system that holds at most `limits` (with the tree),
    /// killed after `timeout` seconds. Every mount is set up, from names only this process
    /// and its launcher made, before the first command runs; `beforeStart` is then handed the
    /// copy of the tree the build will read (`/proc/self/fd/N/src`) and may refuse it by throwing.
    /// - Throws: `SandboxError` when the programs are missing or cannot be started, or the
    ///   build file system cannot be reached; whatever `beforeStart` throws (the build is stopped).
    public static func build(commands: [String], in directory: BuildDirectory, environment: [(String, String)],
                             timeout: Int, limits: BuildLimits, beforeStart: (String) throws -> Void) throws -> SandboxRun {
        guard let bwrap = bubblewrap else { throw SandboxError("bubblewrap (bwrap) is not installed; the build cannot be isolated") }
        guard let unshare else { throw SandboxError("unshare (util-linux) is not installed; the build file system cannot be made") }
        var argv = [unshare, "--user", "--map-root-user", "--mount", "--propagation", "private", "--",
                    "/bin/sh", "-c", launcher, "sh", directory.mountPoint, directory.source, String(limits.bytes), String(limits.files),
                    // Run by root, bubblewrap would keep every capability inside its namespaces: drop them all.
                    bwrap, "--unshare-all", "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv"]
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
        let mount = directory.mountPoint
        // The little of /etc a compiler needs: `cc` and friends are /etc/alternatives links.
        // /dev read-only but for /dev/shm, which is the build file system's: no byte the build
        // writes lies outside the limits.
        argv += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                 "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                 "--dev", "/dev", "--bind", mount + "/shm", "/dev/shm", "--remount-ro", "/dev", "--proc", "/proc",
                 "--bind", mount + "/build", "/build", "--bind", mount + "/tmp", "/tmp",
                 "--chdir", "/build/src", "--remount-ro", "/", "--block-fd", "3", "--",
                 "/bin/sh", "-c", runner, "sh"] + commands

        let block = try pipePair(), ready = try pipePair(), output = try pipePair(), status = try pipePair()
        var parentEnds = [block.write, ready.read, output.read, status.read]
        var childEnds = [block.read, ready.write, output.write, status.write]
        defer { (parentEnds + childEnds).forEach { if $0 >= 0 { close($0) } } }
        let pid = try ProgramRunner.spawn(argv, environment: ["PATH=/usr/bin:/bin"],
                                          descriptors: [1: output.write, 2: output.write, 3: block.read, 4: ready.write, 5: status.write])
        var reaped = false
        var rawStatus: Int32 = 0
        defer {
            if !reaped {
                kill(-pid, SIGKILL)
                while waitpid(pid, &rawStatus, 0) < 0 && errno == EINTR {}
            }
        }
        childEnds.forEach { close($0) }
        childEnds = []
        let deadline = monotonicSeconds() + Double(timeout)
        var log = Tail(limit: 64 << 10)
        var statusLines = LineReader()
        var run = SandboxRun(status: nil, timedOut: false, output: [], made: false, full: false)

        // 1. The launcher mounts and copies, then says ready (or fails and closes the pipe).
        var said: [UInt8] = []
        loop: while monotonicSeconds() < deadline {
            var fds = [pollfd(fd: ready.read, events: Int16(POLLIN), revents: 0), pollfd(fd: output.read, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, 50)
            drain(output.read, into: &log)
            var byte: UInt8 = 0
            switch Glibc.read(ready.read, &byte, 1) {
            case 1:
                said.append(byte)
                if said.count >= 5 { break loop }
            case 0: break loop
            default: if errno != EAGAIN && errno != EINTR { break loop }
            }
        }
        if said == Array("ready".utf8) {
            run.made = true
            try openBuildFileSystem(pid: pid, directory)
            try beforeStart("/proc/self/fd/\(directory.buildFD)/src")
            // 2. Every mount is made; the first command may start.
            var go: UInt8 = 1
            _ = Glibc.write(block.write, &go, 1)
        }
        close(block.write)
        parentEnds[0] = -1

        // 3. The build, to its end or the time limit.
        while true {
            var fds = [pollfd(fd: output.read, events: Int16(POLLIN), revents: 0), pollfd(fd: status.read, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, 50)
            drain(output.read, into: &log)
            statusLines.drain(status.read)
            let done = waitpid(pid, &rawStatus, WNOHANG)
            if done == pid || (done < 0 && errno != EINTR) { reaped = true; break }
            if monotonicSeconds() > deadline {
                run.timedOut = true
                kill(-pid, SIGKILL)
                while waitpid(pid, &rawStatus, 0) < 0 && errno == EINTR {}
                reaped = true
                break
            }
        }
        drain(output.read, into: &log)
        statusLines.drain(status.read)
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        let exited = rawStatus & 0x7F == 0
        run.status = exited && !run.timedOut ? (rawStatus >> 8) & 0xFF : nil
        run.output = log.bytes
        for line in statusLines.lines {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let n = Int(fields[1]), n >= 1, n <= commands.count else { continue }
            if fields[0] == "start" {
                run.lastStarted = n - 1
            } else if fields[0] == "end", fields.count >= 3, let s = Int32(fields[2]), s != 0 {
                run.failedIndex = n - 1
                run.failedStatus = s
                if fields.count >= 5 && (fields[3] == "0" || fields[4] == "0") { run.full = true }
            }
        }
        if directory.mountFD >= 0 {
            var fs = statvfs()
            if fstatvfs(directory.mountFD, &fs) == 0 && (fs.f_bavail == 0 || fs.f_favail == 0) { run.full = true }
            run.outReplaced = replacement(of: directory)
        }
        return run
    }

    /// Opens the tmpfs the launcher mounted, through the launcher's view of the file system
    /// (`/proc/PID/root`), each component without following a symlink (the path is this
    /// process's own directory, and the build has not started), then `build` and `build/out`.
    private static func openBuildFileSystem(pid: pid_t, _ directory: BuildDirectory) throws {
        var current = open("/proc/\(pid)/root", openPath | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw SandboxError("/proc/\(pid)/root: cannot be opened: \(String(cString: strerror(errno)))") }
        for part in directory.mountPoint.split(separator: "/") {
            let next = openat(current, String(part), openPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard next >= 0 else { throw SandboxError("\(directory.mountPoint): the build file system cannot be reached: \(String(cString: strerror(errno)))") }
            current = next
        }
        let root = openat(current, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        close(current)
        var mounted = stat(), host = stat()
        guard root >= 0, fstat(root, &mounted) == 0,
              lstat(directory.mountPoint, &host) == 0, mounted.st_dev != host.st_dev else {
            if root >= 0 { close(root) }
            throw SandboxError("\(directory.mountPoint): the build file system is not mounted there")
        }
        directory.mountFD = root
        directory.buildFD = openat(root, "build", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory.buildFD >= 0 else { throw SandboxError("the build file system has no /build") }
        directory.outFD = openat(directory.buildFD, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory.outFD >= 0 else { throw SandboxError("the build file system has no /build/out") }
    }

    /// What `/build/out` is now, when it is not the directory made for `$OUT`; nil when it is.
    private static func replacement(of directory: BuildDirectory) -> String? {
        var now = stat(), made = stat()
        guard fstat(directory.outFD, &made) == 0 else { return "unreadable" }
        guard fstatat(directory.buildFD, "out", &now, AT_SYMLINK_NOFOLLOW) == 0 else { return "gone" }
        switch now.st_mode & S_IFMT {
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return now.st_dev == made.st_dev && now.st_ino == made.st_ino ? nil : "another directory"
        default: return "not a directory"
        }
    }

    private static func pipePair() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SandboxError("a pipe cannot be made: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }

    private static func drain(_ fd: Int32, into tail: inout Tail) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        // Bounded: a writer that never stops cannot keep the host here.
        for _ in 0..<256 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            tail.append(buffer[..<count])
        }
    }

    private static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The last `limit` bytes of a stream.
private struct Tail {
    let limit: Int
    var bytes: [UInt8] = []
    init(limit: Int) { self.limit = limit }
    mutating func append(_ chunk: ArraySlice<UInt8>) {
        bytes += chunk
        if bytes.count > 2 * limit { bytes.removeFirst(bytes.count - limit) }
    }
}

/// Short status lines from the runner, kept whole; a line longer than 256 bytes (not the
/// runner's) is dropped, and at most the last 64 lines are kept.
private struct LineReader {
    var lines: [Substring] = []
    private var partial: [UInt8] = []
    private var dropping = false

    mutating func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<256 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            for byte in buffer[..<count] {
                if byte == 0x0A {
                    if !dropping { lines.append(Substring(String(decoding: partial, as: UTF8.self))) }
                    if lines.count > 64 { lines.removeFirst(lines.count - 64) }
                    partial.removeAll(keepingCapacity: true)
                    dropping = false
                } else if partial.count < 256 {
                    partial.append(byte)
                } else {
                    dropping = true
                }
            }
        }
    }
}

extension String {
    fileprivate var trimmingSuffixNewlines: String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}

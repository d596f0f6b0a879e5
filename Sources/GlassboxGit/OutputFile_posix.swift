#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file could not be written, locked or replaced.
public struct WriteError: Error, CustomStringConvertible, Sendable {
    /// The path as the user gave it.
    public let path: String
    public let message: String

    public var description: String { "\(path): \(message)" }

    init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    static func errno(_ path: String, _ what: String) -> WriteError {
        WriteError(path, "\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

/// Output files: what every command writes with `-o`, and the files processes share.
///
/// - A regular file is replaced whole: a temporary file in the same directory, with the
///   target's mode (and owner, when run as root), is written, fsynced and renamed over it,
///   so readers see the old file or the new one, never a mix. A secret written over a file
///   others could read (a key replaced with `--force`) loses those bits.
/// - A symlink names the file the user chose: the link is followed and kept, and the file it
///   names is replaced as above.
/// - Anything else that exists (a device such as /dev/null, a fifo) is written through, never
///   replaced.
/// - A new file is made through a temporary file too, with `mode` exactly (umask aside).
///
/// Temporary files are removed on any error, and on SIGINT, SIGTERM and SIGHUP.
public enum OutputFile {
    /// Writes what `produce` hands to its sink to `path`, by the rules above.
    /// - Throws: `WriteError` naming `path`, or whatever `produce` throws; either way no
    ///   temporary file is left.
    public static func write(to path: String, mode: UInt32 = 0o644,
                             _ produce: (_ sink: ([UInt8]) throws -> Void) throws -> Void) throws {
        let target = try resolve(path)
        var info = stat()
        guard lstat(target, &info) == 0 else {
            guard Glibc.errno == ENOENT else { throw WriteError.errno(path, "cannot look at \(target)") }
            try writeAndRename(target, shownAs: path, mode: mode_t(mode), owner: nil, produce)
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            let owner = geteuid() == 0 ? (info.st_uid, info.st_gid) : nil
            // A secret (a mode that gives others nothing, such as a key's 0600) never takes
            // wider bits from the file it replaces.
            let kept = mode & 0o077 == 0 ? info.st_mode & 0o7700 : info.st_mode & 0o7777
            try writeAndRename(target, shownAs: path, mode: kept, owner: owner, produce)
        case S_IFDIR:
            throw WriteError(path, "is a directory")
        default:
            try writeThrough(target, shownAs: path, produce)
        }
    }

    /// Replaces whatever is at `path` (a symlink or a fifo too, never followed or written
    /// through) with a new file of `mode`, through a temporary file: for files this program
    /// owns, such as a log's tiles, where a planted symlink must not redirect the write.
    /// - Throws: as `write`.
    public static func replace(_ path: String, mode: UInt32 = 0o644,
                               _ produce: (_ sink: ([UInt8]) throws -> Void) throws -> Void) throws {
        try writeAndRename(path, shownAs: path, mode: mode_t(mode), owner: nil, produce)
    }

    /// The file `path` names once symlinks at its last component are followed (at most 40),
    /// or `path` itself when it is not a symlink. The file need not exist.
    /// - Throws: `WriteError` for a loop of links or an unreadable link.
    public static func resolve(_ path: String) throws -> String {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { throw WriteError.errno(path, "cannot read the symlink \(current)") }
            guard let target = String(validating: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) else {
                throw WriteError(path, "the symlink \(current) names a path that is not UTF-8")
            }
            current = target.hasPrefix("/") ? target : directory(of: current) + "/" + target
        }
        throw WriteError(path, "too many levels of symlinks")
    }

    /// Appends `bytes` to the file at `path` (made with mode 0644 if absent) after cutting it
    /// to its first `length` bytes, then fsyncs it: when this returns, the bytes are on disk.
    /// The cut drops a torn tail that a crash mid-append may have left.
    /// - Throws: `WriteError`.
    public static func appendDurably(_ bytes: [UInt8], to path: String, keepingFirst length: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError.errno(path, "cannot open for appending") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(length)) == 0, lseek(fd, off_t(length), SEEK_SET) == off_t(length) else {
            throw WriteError.errno(path, "cannot append")
        }
        try writeAll(fd, bytes, shownAs: path)
        guard fsync(fd) == 0 else { throw WriteError.errno(path, "cannot sync") }
        syncDirectory(directory(of: path))
    }

    /// Makes a directory's entries (a rename, a new file) durable.
    public static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func writeAndRename(_ target: String, shownAs path: String, mode: mode_t, owner: (uid_t, gid_t)?,
                                _ produce: (_ sink: ([UInt8]) throws -> Void) throws -> Void) throws {
        let directory = directory(of: target)
        let name = target.lastIndex(of: "/").map { String(target[target.index(after: $0)...]) } ?? target
        // Short enough that `.NAME.tmp-XXXXXXXXXXXXXXXX` fits in NAME_MAX.
        let stem = name.utf8.count <= 200 ? name : "glassbox"
        var temporary = ""
        var fd: Int32 = -1
        for attempt in 0..<16 {
            temporary = directory + "/." + stem + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            TemporaryFiles.register(temporary)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { break }
            let code = Glibc.errno
            let error = WriteError.errno(path, "cannot create a file in \(directory)")
            TemporaryFiles.unregister(temporary)
            if code != EEXIST || attempt == 15 { throw error }
        }
        var renamed = false
        defer {
            if fd >= 0 { close(fd) }
            if !renamed { unlink(temporary) }
            TemporaryFiles.unregister(temporary)
        }
        // Owner first: chown may clear set-id bits that the mode then puts back.
        if let (uid, gid) = owner, fchown(fd, uid, gid) != 0 { throw WriteError.errno(path, "cannot keep the file's owner") }
        guard fchmod(fd, mode) == 0 else { throw WriteError.errno(path, "cannot set the file's mode") }
        try produce { try writeAll(fd, $0, shownAs: path) }
        guard fsync(fd) == 0 else { throw WriteError.errno(path, "cannot sync") }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw WriteError.errno(path, "cannot write") }
        guard rename(temporary, target) == 0 else { throw WriteError.errno(path, "cannot rename into place") }
        renamed = true
        syncDirectory(directory)
    }

    private static func writeThrough(_ target: String, shownAs path: String,
                                     _ produce: (_ sink: ([UInt8]) throws -> Void) throws -> Void) throws {
        let fd = open(target, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw WriteError.errno(path, "cannot open for writing") }
        defer { close(fd) }
        // It was not a regular file a moment ago; if it is one now, writing in place would
        // leave old bytes after the new ones.
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT != S_IFREG else {
            throw WriteError(path, "changed while it was being opened")
        }
        try produce { try writeAll(fd, $0, shownAs: path) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], shownAs path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if Glibc.errno == EINTR { continue }
                    throw WriteError.errno(path, "cannot write")
                }
                offset += written
            }
        }
    }
}

/// An exclusive lock held on a lock file (flock), so processes sharing a file take turns:
/// lock, re-read, decide, replace, unlock. The lock file is left in place: removing it would
/// let a process lock a file another has just unlinked.
public final class FileLock {
    private let fd: Int32

    /// Blocks until the lock on `path` (created with mode 0644 if absent, never through a symlink) is held.
    /// - Throws: `WriteError`.
    public init(_ path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError.errno(path, "cannot open the lock file") }
        while flock(fd, LOCK_EX) != 0 {
            if Glibc.errno == EINTR { continue }
            let error = WriteError.errno(path, "cannot lock")
            close(fd)
            throw error
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Runs `body` holding the lock on `path`.
    public static func holding<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let lock = try FileLock(path)
        defer { withExtendedLifetime(lock) {} }
        return try body()
    }
}

/// Temporary files to remove if the process is told to stop (SIGINT, SIGTERM, SIGHUP).
///
/// The signal handler may run on any thread at any moment, so it only reads a fixed table of
/// C strings and calls `unlink`. A path's string is never freed: a handler on another thread
/// may be reading it. The table holds the temporaries being written now, which are few.
enum TemporaryFiles {
    static let capacity = 64
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
        return slots
    }()
    nonisolated(unsafe) static let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()
    static let handlersInstalled: Void = {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            // A signal the process was started ignoring (nohup) stays ignored.
            let previous = Glibc.signal(signal, removeTemporariesAndReraise)
            if let previous, unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                Glibc.signal(signal, SIG_IGN)
            }
        }
    }()

    /// Registered before the file is created, so no moment exists when it is on disk and unknown.
    static func register(_ path: String) {
        _ = handlersInstalled
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        for i in 0..<capacity where slots[i] == nil {
            slots[i] = strdup(path)
            return
        }
        // A full table only means this file is not removed on a signal; errors still remove it.
    }

    static func unregister(_ path: String) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        for i in 0..<capacity {
            if let slot = slots[i], String(cString: slot) == path {
                slots[i] = nil
                return
            }
        }
    }
}

private func removeTemporariesAndReraise(_ signal: Int32) {
    for i in 0..<TemporaryFiles.capacity {
        if let path = TemporaryFiles.slots[i] { unlink(path) }
    }
    // Die of the same signal, as the parent expects.
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal could not be used to ask for a secret.
public struct TerminalError: Error, CustomStringConvertible, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Asking the person at the terminal for a passphrase, as `ssh` and `gpg` do: the prompt and
/// the answer go through the controlling terminal, never standard output, and what is typed
/// is not echoed.
public enum Terminal {
    /// Whether there is a person to ask: standard input is a terminal. A command run from a
    /// script, a pipe or a test has none, and must be given the secret another way.
    public static var isInteractive: Bool { isatty(0) == 1 }

    /// The longest passphrase read; a longer line is refused rather than cut.
    public static let maxSecretLength = 1024

    /// Writes `prompt`, reads one line with echo off, restores the terminal and ends the line
    /// the person typed (the newline was not echoed either).
    ///
    /// The terminal's settings are put back on every path: on return, on error, and when
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT arrives while the echo is off (the signal is then
    /// delivered as it would have been).
    /// - Precondition: `isInteractive`.
    /// - Returns: the line without its end; nil at the end of input (Ctrl-D).
    /// - Throws: `TerminalError` when the terminal cannot be read or set, or the line is longer
    ///   than `maxSecretLength`.
    public static func readSecret(prompt: String) throws -> [UInt8]? {
        // The controlling terminal, as readpassphrase(3) uses; standard input and standard
        // error when there is none to open.
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        let input = tty >= 0 ? tty : 0
        let output = tty >= 0 ? tty : 2
        defer { if tty >= 0 { close(tty) } }

        var saved = termios()
        guard tcgetattr(input, &saved) == 0 else {
            throw TerminalError("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
        EchoRestorer.arm(fd: input, settings: saved)
        defer { EchoRestorer.disarm() }
        guard tcsetattr(input, TCSAFLUSH, &quiet) == 0 else {
            throw TerminalError("cannot turn the terminal's echo off: \(String(cString: strerror(errno)))")
        }
        defer {
            tcsetattr(input, TCSAFLUSH, &saved)
            writeAll(output, [0x0A])
        }
        writeAll(output, Array(prompt.utf8))

        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(input, &byte, 1)
            if count < 0 {
                if errno == EINTR { continue }
                throw TerminalError("cannot read the terminal: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return line.isEmpty ? nil : line }
            if byte == 0x0A || byte == 0x0D { return line }
            guard line.count < maxSecretLength else {
                // Read the rest of the line, so it is not left for the shell to run.
                while read(input, &byte, 1) == 1 && byte != 0x0A {}
                throw TerminalError("the passphrase is longer than \(maxSecretLength) bytes")
            }
            line.append(byte)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// Puts the terminal's settings back if the process is told to stop while the echo is off:
/// a shell left without echo is the one thing a passphrase prompt must never cause.
///
/// The handler may run at any moment, so it touches only storage allocated before it is
/// installed, and calls only async-signal-safe functions (tcsetattr, signal, raise).
private enum EchoRestorer {
    static let count = 4
    /// Where a signal's handler is kept; a switch, so the handler reads no Swift collection.
    static func index(_ signal: Int32) -> Int? {
        switch signal {
        case SIGINT: 0
        case SIGTERM: 1
        case SIGHUP: 2
        case SIGQUIT: 3
        default: nil
        }
    }
    nonisolated(unsafe) static let settings = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    nonisolated(unsafe) static let fd = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    /// The handler each signal had before, by its index in `signals`.
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<__sighandler_t?>.allocate(capacity: count)
    /// Whether the handler is installed for the signal at that index.
    nonisolated(unsafe) static let installed: UnsafeMutablePointer<Bool> = {
        let flags = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        flags.initialize(repeating: false, count: count)
        return flags
    }()

    static func arm(fd: Int32, settings saved: termios) {
        settings.pointee = saved
        self.fd.pointee = fd
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            let index = index(signal)!
            let old = Glibc.signal(signal, restoreEchoAndReraise)
            previous[index] = old
            installed[index] = true
            // A signal the process was started ignoring (nohup) stays ignored.
            if let old, unsafeBitCast(old, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                Glibc.signal(signal, SIG_IGN)
                installed[index] = false
            }
        }
    }

    static func disarm() {
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            let index = index(signal)!
            guard installed[index] else { continue }
            Glibc.signal(signal, previous[index])
            installed[index] = false
        }
    }
}

private func restoreEchoAndReraise(_ signal: Int32) {
    tcsetattr(EchoRestorer.fd.pointee, TCSAFLUSH, EchoRestorer.settings)
    // Hand the signal to whoever had it before (another cleanup, or the default: stop the
    // process). It is blocked while this handler runs, so it arrives as the handler returns.
    if let index = EchoRestorer.index(signal), EchoRestorer.installed[index] {
        EchoRestorer.installed[index] = false
        Glibc.signal(signal, EchoRestorer.previous[index])
    }
    raise(signal)
}

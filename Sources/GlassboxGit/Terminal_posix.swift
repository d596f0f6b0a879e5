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
    /// The terminal's settings are put back on every path: on return, on error, and on every
    /// signal that ends or stops the process while the echo is off. SIGINT, SIGTERM and SIGHUP
    /// are then delivered as they would have been; SIGQUIT ends the process at once, without a
    /// core file (it would hold what was typed so far) and without the Swift runtime's crash
    /// report; SIGTSTP, SIGTTIN and SIGTTOU (Ctrl-Z) stop it with the echo back on, and SIGCONT
    /// turns the echo off again and writes the prompt again.
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
        EchoRestorer.arm(fd: input, output: output, settings: saved, quiet: quiet, prompt: Array(prompt.utf8))
        // The handlers go first, so none can turn the echo off again once it is back on.
        defer {
            EchoRestorer.disarm()
            tcsetattr(input, TCSAFLUSH, &saved)
            writeAll(output, [0x0A])
        }
        guard tcsetattr(input, TCSAFLUSH, &quiet) == 0 else {
            throw TerminalError("cannot turn the terminal's echo off: \(String(cString: strerror(errno)))")
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

/// Puts the terminal's settings back when a signal ends or stops the process while the echo is
/// off, and turns the echo off again when it continues: a shell left without echo is the one
/// thing a passphrase prompt must never cause.
///
/// A handler may run at any moment, on any thread, so it touches only storage allocated before
/// it is installed, and calls only async-signal-safe functions (tcgetpgrp, tcsetattr, write,
/// signal, raise, setrlimit). The terminal is touched only while the process is in the
/// terminal's foreground: from the background, tcsetattr would itself stop the process.
private enum EchoRestorer {
    static let signals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT]
    static let count = 8
    /// Where a signal's handler is kept; a switch, so a handler reads no Swift collection.
    static func index(_ signal: Int32) -> Int? {
        switch signal {
        case SIGINT: 0
        case SIGTERM: 1
        case SIGHUP: 2
        case SIGQUIT: 3
        case SIGTSTP: 4
        case SIGTTIN: 5
        case SIGTTOU: 6
        case SIGCONT: 7
        default: nil
        }
    }
    static let promptCapacity = 4096
    nonisolated(unsafe) static let settings = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    nonisolated(unsafe) static let quiet = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    nonisolated(unsafe) static let fd = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    nonisolated(unsafe) static let output = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    /// The prompt, written again on SIGCONT (at most `promptCapacity` bytes of it).
    nonisolated(unsafe) static let prompt = UnsafeMutablePointer<UInt8>.allocate(capacity: promptCapacity)
    nonisolated(unsafe) static let promptLength = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    /// The handler each signal had before, by its index.
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<__sighandler_t?>.allocate(capacity: count)
    /// Whether the handler is installed for the signal at that index.
    nonisolated(unsafe) static let installed: UnsafeMutablePointer<Bool> = {
        let flags = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        flags.initialize(repeating: false, count: count)
        return flags
    }()

    static func arm(fd: Int32, output: Int32, settings saved: termios, quiet silent: termios, prompt text: [UInt8]) {
        settings.pointee = saved
        quiet.pointee = silent
        self.fd.pointee = fd
        self.output.pointee = output
        let length = min(text.count, promptCapacity)
        text.withUnsafeBufferPointer { prompt.update(from: $0.baseAddress!, count: length) }
        promptLength.pointee = length
        for signal in signals {
            let index = index(signal)!
            let old = Glibc.signal(signal, handler(for: signal))
            previous[index] = old
            installed[index] = true
            // A signal the process was started ignoring (nohup, a shell without job control)
            // stays ignored.
            if let old, unsafeBitCast(old, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                Glibc.signal(signal, SIG_IGN)
                installed[index] = false
            }
        }
    }

    static func handler(for signal: Int32) -> @convention(c) (Int32) -> Void {
        switch signal {
        case SIGTSTP, SIGTTIN, SIGTTOU: restoreEchoAndStop
        case SIGCONT: silenceAgainAndPrompt
        default: restoreEchoAndReraise
        }
    }

    static func disarm() {
        for signal in signals {
            let index = index(signal)!
            guard installed[index] else { continue }
            installed[index] = false
            Glibc.signal(signal, previous[index])
        }
    }

    /// Whether this process is in the terminal's foreground, where it may set it.
    static var inForeground: Bool { tcgetpgrp(fd.pointee) == getpgrp() }
}

private func restoreEchoAndReraise(_ signal: Int32) {
    if EchoRestorer.inForeground { tcsetattr(EchoRestorer.fd.pointee, TCSAFLUSH, EchoRestorer.settings) }
    if signal == SIGQUIT {
        // The Swift runtime holds SIGQUIT for its crash report, which would take the terminal
        // again (raw mode, a pause, a backtrace). Quit as the default action does, but with no
        // core file: it would hold what was typed so far.
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
        Glibc.signal(signal, SIG_DFL)
    } else if let index = EchoRestorer.index(signal), EchoRestorer.installed[index] {
        // Hand the signal to whoever had it before (another cleanup, or the default: end the
        // process). It is blocked while this handler runs, so it arrives as the handler returns.
        EchoRestorer.installed[index] = false
        Glibc.signal(signal, EchoRestorer.previous[index])
    }
    raise(signal)
}

/// Ctrl-Z: the echo back on, then stop as the default action does. SIGCONT puts this handler
/// back.
private func restoreEchoAndStop(_ signal: Int32) {
    if EchoRestorer.inForeground { tcsetattr(EchoRestorer.fd.pointee, TCSAFLUSH, EchoRestorer.settings) }
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

/// The process continues (after Ctrl-Z and `fg`, or a SIGSTOP): the echo off again and the
/// prompt written again, since the shell used the terminal meanwhile.
private func silenceAgainAndPrompt(_ signal: Int32) {
    // One by one: a handler builds no array.
    if EchoRestorer.installed[4] { Glibc.signal(SIGTSTP, restoreEchoAndStop) }
    if EchoRestorer.installed[5] { Glibc.signal(SIGTTIN, restoreEchoAndStop) }
    if EchoRestorer.installed[6] { Glibc.signal(SIGTTOU, restoreEchoAndStop) }
    guard EchoRestorer.inForeground else { return }
    tcsetattr(EchoRestorer.fd.pointee, TCSANOW, EchoRestorer.quiet)
    var offset = 0
    while offset < EchoRestorer.promptLength.pointee {
        let written = write(EchoRestorer.output.pointee, EchoRestorer.prompt + offset, EchoRestorer.promptLength.pointee - offset)
        if written <= 0 { break }
        offset += written
    }
}

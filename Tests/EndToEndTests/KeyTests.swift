import Foundation
import Testing

/// A directory of keys made with OpenSSL's own tools, the way a release engineer brings keys
/// made elsewhere, and a small signed-able tree.
private struct KeyFixture {
    let dir: URL
    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

    init() throws {
        dir = try temporaryDirectory("keys")
    }

    /// Runs `openssl ARGS` and expects success.
    func openssl(_ arguments: String...) throws {
        let made = try run("openssl", arguments)
        #expect(made.status == 0, "openssl \(arguments): \(made.stderr)")
    }

    /// A manifest of a one-file directory, unsigned.
    func manifest() throws -> String {
        let tree = dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: tree.appendingPathComponent("README"))
        let path = file("tree.manifest")
        let made = try glassbox("manifest", "--dir", tree.path, "--origin", "vendor.example/tree/1", "-o", path)
        #expect(made.status == 0, "\(made.stderr)")
        return path
    }
}

/// Runs `command` (a shell command line) under `script`, so it has a terminal for standard
/// input, output and error; once `prompt` appears, types `answer` and a newline. Returns all the
/// terminal showed (with CR LF line ends) and, when `pidFile` is given, sends SIGINT to the pid
/// written there instead of answering.
private func onTerminal(_ command: String, prompt: String = "Passphrase for ", answer: String? = nil,
                        interruptPidFile: String? = nil) throws -> String {
    let process = Process()
    // Foundation starts children with most signals blocked, which a person's shell never does:
    // unblock them all before script(1) starts the command.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
                         "/usr/bin/script", "-qec", command, "/dev/null"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let lock = NSLock()
    nonisolated(unsafe) var seen = Data()
    let reader = Thread {
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            lock.withLock { seen.append(chunk) }
        }
    }
    reader.start()
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline, !lock.withLock({ String(decoding: seen, as: UTF8.self).contains(prompt) }) { usleep(10_000) }
    #expect(lock.withLock { String(decoding: seen, as: UTF8.self).contains(prompt) }, "no prompt: \(lock.withLock { String(decoding: seen, as: UTF8.self) })")
    // The prompt is written after the echo is turned off; a little more time lets the reader block.
    usleep(200_000)
    if let interruptPidFile {
        let pid = Int32(try String(contentsOfFile: interruptPidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        kill(pid, SIGINT)
    }
    if let answer { input.fileHandleForWriting.write(Data((answer + "\n").utf8)) }
    let end = Date().addingTimeInterval(60)
    while process.isRunning && Date() < end { usleep(10_000) }
    #expect(!process.isRunning, "still running after a minute: \(lock.withLock { String(decoding: seen, as: UTF8.self) })")
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    try? input.fileHandleForWriting.close()
    while !reader.isFinished { usleep(1000) }
    return lock.withLock { String(decoding: seen, as: UTF8.self) }
}

/// Drives `arguments` on a fresh terminal (a pty) as a job-control shell would: the program is
/// its own process group in the terminal's foreground, with a parent in the same session, so
/// Ctrl-Z really stops it. Once `prompt` appears, `script` runs: `type:TEXT` (bytes, `\x1a`
/// is Ctrl-Z and `\x1c` Ctrl-\), `stopped` (wait until stopped), `prompted:N` (wait for the
/// prompt's Nth appearance), `echo:NAME` (record whether the terminal echoes), `kill:NAME`
/// (send a signal), `onecho` (turn the echo on, as a shell might while the job is stopped),
/// `exit` (wait for the end). Returns what was recorded, the exit status (128 + the signal
/// for a signal), the seconds from the last step to the end, and all the terminal showed.
private func onPty(_ arguments: [String], prompt: String, script: [String]) throws -> [String: Any] {
    let driver = #"""
import fcntl, json, os, select, signal, sys, termios, time
prompt, steps, argv = sys.argv[1].encode(), json.loads(sys.argv[2]), sys.argv[3:]
master, slave = os.openpty()
r, w = os.pipe()
leader = os.fork()
if leader == 0:
    os.close(master); os.close(r)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(slave, os.getpgrp())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for fd in (0, 1, 2): os.dup2(slave, fd)
        os.execv(argv[0], argv)
    os.write(w, str(child).encode()); os.close(w)
    _, status = os.waitpid(child, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
os.close(slave); os.close(w)
child = int(os.read(r, 32))
seen = b""
def pump(seconds):
    global seen
    end = time.time() + seconds
    while time.time() < end:
        ready, _, _ = select.select([master], [], [], max(0, end - time.time()))
        if not ready: return
        try: data = os.read(master, 65536)
        except OSError: return
        if not data: return
        seen += data
def until(check, seconds=60):
    end = time.time() + seconds
    while time.time() < end and not check(): pump(0.05)
    return check()
def state():
    try: return open("/proc/%d/stat" % child).read().rsplit(")", 1)[1].split()[0]
    except OSError: return "gone"
record = {"ok": until(lambda: prompt in seen)}
time.sleep(0.3); pump(0.1)
start = time.time()
for step in steps:
    verb, _, arg = step.partition(":")
    start = time.time()
    if verb == "type": os.write(master, arg.encode().decode("unicode_escape").encode("latin-1"))
    elif verb == "stopped": record["stopped"] = until(lambda: state() == "T", 10)
    elif verb == "prompted": record["prompted"] = until(lambda: seen.count(prompt) >= int(arg), 10); time.sleep(0.3); pump(0.1)
    elif verb == "echo": record["echo:" + arg] = bool(termios.tcgetattr(master)[3] & termios.ECHO)
    elif verb == "kill": os.kill(child, getattr(signal, arg))
    elif verb == "onecho":
        attrs = termios.tcgetattr(master); attrs[3] |= termios.ECHO; termios.tcsetattr(master, termios.TCSANOW, attrs)
    elif verb == "exit":
        end = time.time() + 60
        while time.time() < end:
            pump(0.05)
            pid, status = os.waitpid(leader, os.WNOHANG)
            if pid: break
        else:
            os.kill(child, signal.SIGKILL); pid, status = os.waitpid(leader, 0)
        pump(0.2)
        record["status"] = os.WEXITSTATUS(status)
        record["seconds"] = time.time() - start
    time.sleep(0.1)
record["echo:end"] = bool(termios.tcgetattr(master)[3] & termios.ECHO)
record["shown"] = seen.decode("utf-8", "replace")
print(json.dumps(record))
"""#
    let steps = String(decoding: try JSONSerialization.data(withJSONObject: script), as: UTF8.self)
    let result = try run("python3", ["-c", driver, prompt, steps] + arguments)
    #expect(result.status == 0, "\(result.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)\(result.stderr)")
}

/// Runs `glassbox` with an argument list built at run time.
private func glassbox(_ arguments: [String]) throws -> Result {
    try run(productsDirectory.appendingPathComponent("glassbox").path, arguments)
}

private func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

@Suite struct KeyTests {
    static let supportedHint = "glassbox: hint: use an Ed25519 or ECDSA P-256 key (`glassbox key generate --name NAME -o PREFIX`, or `openssl genpkey -algorithm ed25519`)\n"

    @Test func otherKeyTypesSayWhatTheyAreInOneLine() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", f.file("p384.pem"))
        try f.openssl("ecparam", "-name", "secp384r1", "-genkey", "-out", f.file("p384-ecparam.pem"))
        try f.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", f.file("rsa.pem"))
        try f.openssl("genrsa", "-traditional", "-out", f.file("rsa-traditional.pem"), "1024")
        try f.openssl("genpkey", "-algorithm", "ed448", "-out", f.file("ed448.pem"))
        try f.openssl("genpkey", "-algorithm", "x25519", "-out", f.file("x25519.pem"))
        try f.openssl("genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", f.file("dsa.param"))
        try f.openssl("genpkey", "-paramfile", f.file("dsa.param"), "-out", f.file("dsa.pem"))
        let manifest = try f.manifest()
        for (file, algorithm) in [("p384.pem", "ECDSA P-384"), ("p384-ecparam.pem", "ECDSA P-384"), ("rsa.pem", "RSA"),
                                  ("rsa-traditional.pem", "RSA"), ("ed448.pem", "Ed448"), ("x25519.pem", "X25519"), ("dsa.pem", "DSA")] {
            let key = f.file(file)
            let expected = "glassbox: error: \(key): \(algorithm) keys are not supported\n" + KeyTests.supportedHint
            let signed = try glassbox("sign", "--key", key, "--name", "vendor.example/k", manifest)
            #expect(signed.status == 2)
            #expect(signed.stderr == expected, "\(file)")
            let derived = try glassbox("key", "pub", key, "--name", "vendor.example/k")
            #expect(derived.status == 2)
            #expect(derived.stderr == expected, "\(file)")
        }
        // ECDSA P-256 from `openssl ecparam` (an EC PARAMETERS block before the key) is supported.
        try f.openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", f.file("p256-ecparam.pem"))
        let p256 = try glassbox("key", "pub", f.file("p256-ecparam.pem"), "--name", "vendor.example/p256")
        #expect(p256.status == 0, "\(p256.stderr)")
    }

    @Test func fileProblemsGetOneLineAndTheRightHint() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-out", f.file("ed.pem"))
        try f.openssl("pkey", "-in", f.file("ed.pem"), "-pubout", "-out", f.file("public.pem"))
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        try Data("s3cret\n".utf8).write(to: URL(fileURLWithPath: f.file("pass")))
        try Data("wrong\n".utf8).write(to: URL(fileURLWithPath: f.file("wrong")))
        #expect(try glassbox("keygen", "--name", "vendor.example/g", "-o", f.file("g")).status == 0)
        var damaged = try String(contentsOfFile: f.file("ed.pem"), encoding: .utf8)
        damaged = damaged.replacingOccurrences(of: "\nMC4C", with: "\nAAAA")
        try Data(damaged.utf8).write(to: URL(fileURLWithPath: f.file("damaged.pem")))
        let pemHint = "glassbox: hint: a key is PKCS#8 PEM, as `glassbox key generate` and `openssl genpkey` write\n"
        let cases: [(key: String, extra: [String], stderr: String)] = [
            (f.file("pass"), [], "glassbox: error: \(f.file("pass")): not a PEM private key (no -----BEGIN line)\n" + pemHint),
            (f.file("public.pem"), [], "glassbox: error: \(f.file("public.pem")): a PEM PUBLIC KEY, not a private key\n" + pemHint),
            (f.file("g.pub"), [], "glassbox: error: \(f.file("g.pub")): a verifier key (.pub), not a private key\n"
                + "glassbox: hint: pass the private key (.key) beside it\n"),
            (f.file("encrypted.pem"), [], "glassbox: error: \(f.file("encrypted.pem")): the key is encrypted and no passphrase was given\n"
                + "glassbox: hint: pass --passphrase-file FILE (its first line is the passphrase)\n"),
            (f.file("encrypted.pem"), ["--passphrase-file", f.file("wrong")],
             "glassbox: error: \(f.file("encrypted.pem")): the passphrase does not decrypt the key\n"
                + "glassbox: hint: the passphrase is the first line of \(f.file("wrong")), without its line end\n"),
            (f.file("damaged.pem"), [], "glassbox: error: \(f.file("damaged.pem")): the PEM private key is damaged or of a kind OpenSSL cannot read"
                + " (PEM_read_bio_PrivateKey: nested asn1 error)\n"
                + "glassbox: hint: check that the file is whole: a key is PKCS#8 PEM, as `glassbox key generate` writes\n"),
        ]
        for item in cases {
            let result = try glassbox(["key", "pub", item.key, "--name", "vendor.example/k"] + item.extra)
            #expect(result.status == 2)
            #expect(result.stderr == item.stderr)
        }
        #expect(try glassbox("key", "pub", f.file("encrypted.pem"), "--name", "vendor.example/k", "--passphrase-file", f.file("pass")).status == 0)
    }

    /// Every command that reads a private key reads it the same way: an encrypted key without
    /// a passphrase, and no terminal, gets the same one error and hint everywhere.
    @Test func everyKeySiteSaysPassPassphraseFile() throws {
        let f = try KeyFixture()
        let pass = f.file("pass")
        try Data("s3cret\n".utf8).write(to: URL(fileURLWithPath: pass))
        #expect(try glassbox("keygen", "--name", "log.example/k", "-o", f.file("log"), "--passphrase-file", pass).status == 0)
        #expect(try glassbox("keygen", "--name", "vendor.example/k", "-o", f.file("vendor"), "--passphrase-file", pass).status == 0)
        #expect(try glassbox("keygen", "--name", "center.example/w", "--witness", "-o", f.file("w"), "--passphrase-file", pass).status == 0)
        let manifest = try f.manifest()
        func expectNeedsPassphrase(_ result: Result, _ key: String) {
            #expect(result.status == 2)
            #expect(result.stderr == "glassbox: error: \(key): the key is encrypted and no passphrase was given\n"
                    + "glassbox: hint: pass --passphrase-file FILE (its first line is the passphrase)\n")
        }
        expectNeedsPassphrase(try glassbox("sign", "--key", f.file("vendor.key"), manifest), f.file("vendor.key"))
        #expect(try glassbox("sign", "--key", f.file("vendor.key"), "--passphrase-file", pass, manifest).status == 0)
        let log = f.file("thelog")
        expectNeedsPassphrase(try glassbox("log", "init", log, "--origin", "log.example/r", "--key", f.file("log.key")), f.file("log.key"))
        #expect(try glassbox("log", "init", log, "--origin", "log.example/r", "--key", f.file("log.key"), "--passphrase-file", pass).status == 0)
        let logKey = URL(fileURLWithPath: f.file("log.key")).standardizedFileURL.path
        expectNeedsPassphrase(try glassbox("log", "add", log, manifest), logKey)
        #expect(try glassbox("log", "add", log, manifest, "--passphrase-file", pass).status == 0)
        let cosign = ["witness", "cosign", "--key", f.file("w.key"), "--state", f.file("w.state"), "--log-key", f.file("log.pub"), log + "/checkpoint"]
        expectNeedsPassphrase(try glassbox(cosign), f.file("w.key"))
        let cosigned = try glassbox(cosign + ["--passphrase-file", pass])
        #expect(cosigned.status == 0, "\(cosigned.stderr)")
        // A witness key is Ed25519: an ECDSA key is refused with the reason.
        #expect(try glassbox("keygen", "--name", "center.example/e", "--algorithm", "ecdsa-p256", "-o", f.file("e")).status == 0)
        let ecdsa = try glassbox("witness", "cosign", "--key", f.file("e.key"), "--state", f.file("e.state"), "--log-key", f.file("log.pub"), log + "/checkpoint")
        #expect(ecdsa.status == 2)
        #expect(ecdsa.stderr.hasPrefix("glassbox: error: \(f.file("e.key")): ECDSA P-256 keys cannot be witness keys"))
    }

    @Test func keyPubGivesTheSamePubKeyGenerateWrote() throws {
        let f = try KeyFixture()
        for (name, flags) in [("ed", ["--algorithm", "ed25519"]), ("ec", ["--algorithm", "ecdsa-p256"]), ("wit", ["--witness"])] {
            let made = try glassbox(["key", "generate", "--name", "vendor.example/\(name)", "-o", f.file(name)] + flags)
            #expect(made.status == 0, "\(made.stderr)")
            let original = try Data(contentsOf: URL(fileURLWithPath: f.file("\(name).pub")))
            let witness = flags.contains("--witness") ? ["--witness"] : []
            // With --name, and with the name taken from the .pub beside the key.
            let named = try glassbox(["key", "pub", f.file("\(name).key"), "--name", "vendor.example/\(name)", "-o", f.file("\(name).derived")] + witness)
            #expect(named.status == 0, "\(named.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: f.file("\(name).derived"))) == original)
            let beside = try glassbox(["key", "pub", f.file("\(name).key")] + witness)
            #expect(beside.status == 0, "\(beside.stderr)")
            #expect(beside.stdoutBytes == original)
        }
        // The old name of the command still works.
        #expect(try glassbox("keygen", "--name", "vendor.example/old", "-o", f.file("old")).status == 0)
    }

    @Test func anOpenSSLKeySignsAndItsDerivedPubVerifies() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-out", f.file("ossl.pem"))
        let derived = try glassbox("key", "pub", f.file("ossl.pem"), "--name", "ops.example/openssl", "-o", f.file("ossl.pub"))
        #expect(derived.status == 0, "\(derived.stderr)")
        // The key in the vkey is the one OpenSSL derives: the last 32 bytes of its DER SPKI.
        try f.openssl("pkey", "-in", f.file("ossl.pem"), "-pubout", "-outform", "DER", "-out", f.file("ossl.spki"))
        let spki = try Data(contentsOf: URL(fileURLWithPath: f.file("ossl.spki")))
        let vkey = try String(contentsOfFile: f.file("ossl.pub"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let blob = try #require(Data(base64Encoded: String(vkey.split(separator: "+", maxSplits: 2)[2])))
        #expect(blob == Data([0x01]) + spki.suffix(32))
        // A manifest signed with the OpenSSL key verifies under a policy made from the derived .pub.
        let manifest = try f.manifest()
        #expect(try glassbox("sign", "--key", f.file("ossl.pem"), "--name", "ops.example/openssl", manifest).status == 0)
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", f.file("trust"), f.file("ossl.pub")).status == 0)
        let verified = try verifyRelease(["--manifest", manifest, "--trust", f.file("trust"), "--dir", f.dir.appendingPathComponent("tree").path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // And not under a policy made from another key's .pub.
        #expect(try glassbox("keygen", "--name", "ops.example/openssl", "-o", f.file("other")).status == 0)
        #expect(try glassbox("trust", "init", "--threshold", "1", "-o", f.file("other-trust"), f.file("other.pub")).status == 0)
        let other = try verifyRelease(["--manifest", manifest, "--trust", f.file("other-trust"), "--dir", f.dir.appendingPathComponent("tree").path])
        #expect(other.status == 1)
    }

    @Test func anEncryptedKeyAsksOnTheTerminalWithoutEcho() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux script(1) runs a command on a terminal")
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        let glassboxPath = productsDirectory.appendingPathComponent("glassbox").path
        let command = "\(quoted(glassboxPath)) key pub \(quoted(f.file("encrypted.pem"))) --name vendor.example/k; echo \"rc=$?\""
        let typed = try onTerminal(command, answer: "s3cret")
        #expect(typed.hasPrefix("Passphrase for \(f.file("encrypted.pem")): \r\n"))
        #expect(!typed.contains("s3cret"), "the passphrase was echoed: \(typed)")
        #expect(typed.contains("vendor.example/k+"))
        #expect(typed.hasSuffix("rc=0\r\n"), "\(typed)")
        let wrong = try onTerminal(command, answer: "guess")
        #expect(!wrong.contains("guess"))
        #expect(wrong.contains("glassbox: error: \(f.file("encrypted.pem")): the passphrase does not decrypt the key\r\n"
                               + "glassbox: hint: type the passphrase the key was encrypted with\r\n"), "\(wrong)")
        #expect(wrong.hasSuffix("rc=2\r\n"))
    }

    @Test func anInterruptedPromptGivesTheTerminalItsEchoBack() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux script(1) runs a command on a terminal")
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        let glassboxPath = productsDirectory.appendingPathComponent("glassbox").path
        let pidFile = f.file("pid")
        // The shell records glassbox's pid (exec keeps it), then reports the terminal's echo flag.
        let command = "sh -c \(quoted("echo $$ > \(quoted(pidFile)); exec \(quoted(glassboxPath)) key pub \(quoted(f.file("encrypted.pem"))) --name a.example/k"));"
            + " echo \"rc=$?\"; echo \"after: $(stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{0,1\\}echo')\""
        let shown = try onTerminal(command, interruptPidFile: pidFile)
        #expect(shown.contains("rc=130\r\n"), "\(shown)")
        #expect(shown.hasSuffix("after: echo\r\n"), "\(shown)")
    }

    /// Ctrl-\ at the prompt once reached the Swift runtime's crash report: the terminal in raw
    /// mode, a 30 s wait, a backtrace. Now the process quits at once, echo back on, no report.
    @Test func quitAtThePromptEndsAtOnceWithTheEchoBack() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        let glassboxPath = productsDirectory.appendingPathComponent("glassbox").path
        for quit in ["type:\\x1c", "kill:SIGQUIT"] {
            let seen = try onPty([glassboxPath, "key", "pub", f.file("encrypted.pem"), "--name", "a.example/k"],
                                 prompt: "Passphrase for ", script: ["echo:prompt", quit, "exit"])
            let shown = seen["shown"] as? String ?? ""
            #expect(seen["ok"] as? Bool == true && seen["echo:prompt"] as? Bool == false, "\(seen)")
            #expect(seen["status"] as? Int == 128 + Int(SIGQUIT), "\(quit): \(seen)")
            #expect((seen["seconds"] as? Double ?? 99) < 10, "\(quit): \(seen)")
            #expect(seen["echo:end"] as? Bool == true, "\(quit): \(seen)")
            #expect(!shown.contains("crashed") && !shown.contains("Backtrace") && !shown.contains("Thread 0"), "\(quit): \(shown)")
        }
    }

    /// Ctrl-Z at the prompt once stopped the process with the echo still off, so the shell the
    /// person was handed back did not show what they typed. Now the echo is on while stopped,
    /// off again (and the prompt written again) once continued, and the passphrase still works.
    @Test func ctrlZAtThePromptGivesTheEchoBackWhileStopped() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        let glassboxPath = productsDirectory.appendingPathComponent("glassbox").path
        let seen = try onPty([glassboxPath, "key", "pub", f.file("encrypted.pem"), "--name", "a.example/k"], prompt: "Passphrase for ",
                             script: ["echo:prompt", "type:\\x1a", "stopped", "echo:stopped", "kill:SIGCONT", "prompted:2", "echo:resumed",
                                      "type:s3cret\\n", "exit"])
        let shown = seen["shown"] as? String ?? ""
        #expect(seen["echo:prompt"] as? Bool == false, "\(seen)")
        #expect(seen["stopped"] as? Bool == true && seen["echo:stopped"] as? Bool == true, "\(seen)")
        #expect(seen["prompted"] as? Bool == true && seen["echo:resumed"] as? Bool == false, "\(seen)")
        #expect(seen["status"] as? Int == 0 && shown.contains("a.example/k+"), "\(seen)")
        #expect(!shown.contains("s3cret") && seen["echo:end"] as? Bool == true, "\(seen)")
    }

    /// SIGSTOP cannot be caught; a shell may turn the echo on while the job is stopped. On
    /// SIGCONT the prompt turns it off again before the passphrase is typed.
    @Test func continuedAfterSigstopTheEchoIsOffAgain() throws {
        let f = try KeyFixture()
        try f.openssl("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:s3cret", "-out", f.file("encrypted.pem"))
        let glassboxPath = productsDirectory.appendingPathComponent("glassbox").path
        let seen = try onPty([glassboxPath, "key", "pub", f.file("encrypted.pem"), "--name", "a.example/k"], prompt: "Passphrase for ",
                             script: ["kill:SIGSTOP", "stopped", "onecho", "echo:stopped", "kill:SIGCONT", "prompted:2", "echo:resumed",
                                      "type:s3cret\\n", "exit"])
        #expect(seen["echo:stopped"] as? Bool == true && seen["echo:resumed"] as? Bool == false, "\(seen)")
        #expect(seen["status"] as? Int == 0 && !(seen["shown"] as? String ?? "").contains("s3cret"), "\(seen)")
        #expect(seen["echo:end"] as? Bool == true, "\(seen)")
    }
}

// Which files hold code, and how their comments are written. Identifier rules apply to every
// text file that is not prose or data: an attacker picks the language, so an allow-list of
// extensions would always miss one (a C# script, a Solidity contract, a CI file). Prose and data
// are named on a short deny-list instead; files without an extension count as code when their
// name or their first line (`#!`) says so.

/// How the scan reads one text file.
struct FileLanguage: Equatable {
    /// Code: identifiers are compared for look-alikes and long lines are reported.
    var isCode: Bool
    /// `#` starts a line comment (shells, Python, Ruby, Perl, YAML, Make, PowerShell…).
    var hashComments: Bool
    /// Source: a compiler, an interpreter or a build tool reads it as text, whatever bytes it
    /// holds (gcc reads past a NUL, bash runs the lines after one). Such a file is never
    /// skipped as binary, and a control character in it is a finding.
    var isSource: Bool

    /// From the path and the file's first bytes (for a `#!` line).
    init(path: [UInt8], head: ArraySlice<UInt8>) {
        let name = String(decoding: path.split(separator: UInt8(ascii: "/")).last ?? [], as: UTF8.self).lowercased()
        // `.gitattributes` and `.bashrc` count as their own extension.
        let ext = name.lastIndex(of: ".").map { String(name[name.index(after: $0)...]) }
        isSource = isSourceName(name) || shebangInterpreter(head) != nil
        if let interpreter = shebangInterpreter(head) {
            isCode = true
            hashComments = !slashCommentInterpreters.contains(interpreter)
        } else if let language = codeNames[name] {
            isCode = true
            hashComments = language
        } else if let ext {
            isCode = !proseOrDataExtensions.contains(ext)
            hashComments = hashCommentExtensions.contains(ext)
        } else {
            isCode = false
            hashComments = false
        }
    }
}

/// Whether a file's name says a compiler, interpreter or build tool reads it: a source
/// extension, a build file's name, or either of them with `.in` after it (an autoconf template:
/// `Makefile.in`, `config.h.in`, `setup.py.in` become source when configure runs).
func isSourceName(_ lowercasedName: String) -> Bool {
    var name = Substring(lowercasedName)
    while name.hasSuffix(".in") && name.count > 3 { name = name.dropLast(3) }
    if codeNames[String(name)] != nil || sourceNames.contains(String(name)) { return true }
    guard let dot = name.lastIndex(of: ".") else { return false }
    return sourceExtensions.contains(String(name[name.index(after: dot)...]))
}

/// Extensions of files compilers, interpreters and build tools read as source. Any text file
/// is scanned; these are the ones scanned whatever their first bytes look like.
let sourceExtensions: Set<String> = [
    // C, C++, Objective-C, assembly, CUDA
    "c", "h", "cc", "cp", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tpp", "inl", "inc", "m", "mm",
    "s", "asm", "cu", "cuh", "def",
    // Swift, Rust, Go, Zig, D, Nim, V
    "swift", "rs", "go", "zig", "d", "nim", "v",
    // JVM and .NET
    "java", "kt", "kts", "scala", "sc", "groovy", "gradle", "clj", "cljs", "cljc", "cs", "csx", "fs", "fsx", "fsi", "vb",
    "csproj", "vbproj", "fsproj", "props", "targets", "xaml",
    // JavaScript, TypeScript and the web
    "js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx", "vue", "svelte", "html", "htm", "xhtml", "css", "scss", "less",
    "wasm", "wat",
    // scripting languages
    "py", "pyw", "pyi", "pyx", "pxd", "rb", "rake", "gemspec", "ru", "pl", "pm", "t", "php", "phtml", "php3", "php4",
    "php5", "php7", "php8", "phps", "lua", "tcl", "r", "jl", "dart", "ex", "exs", "erl", "hrl", "hs", "lhs",
    "ml", "mli", "el", "lisp", "scm", "rkt", "raku", "rakumod", "awk", "sed", "sql",
    // shells
    "sh", "bash", "zsh", "ksh", "csh", "tcsh", "fish", "ps1", "psm1", "psd1", "bat", "cmd", "vbs", "wsf",
    // build files
    "mk", "mak", "make", "am", "ac", "m4", "cmake", "bzl", "bazel", "gn", "gni", "ninja", "meson", "just", "nix",
    "y", "yy", "l", "ll", "sol", "proto", "dockerfile", "spec",
    // configuration a build or CI runs
    "yml", "yaml", "toml", "gitattributes", "gitmodules",
]

/// Names, besides `codeNames`, of files a build reads as source.
let sourceNames: Set<String> = ["configure", "config.status", "libtool", "install-sh", "missing", "depcomp", "compile", "ltmain.sh"]

/// Prose and data: words, translations and tables, where look-alike words are expected and no
/// compiler reads an identifier. Everything else that is text is treated as code.
let proseOrDataExtensions: Set<String> = [
    // prose and documentation markup
    "txt", "text", "md", "markdown", "mdown", "mkd", "rst", "adoc", "asciidoc", "asc", "org", "textile",
    "rdoc", "pod", "tex", "ltx", "bib", "texi", "texinfo", "info", "man", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "rtf", "log", "diff", "patch", "mailmap", "mbox", "eml", "dic", "aff",
    // translations
    "po", "pot", "properties", "strings", "stringsdict", "xlf", "xliff", "arb", "ftl",
    // tables and data
    "csv", "tsv", "psv", "json", "jsonl", "ndjson", "geojson", "lock", "sum", "srt", "vtt", "ics", "vcf",
]

/// Files without a telling extension that are code, by name: whether `#` starts a comment.
let codeNames: [String: Bool] = [
    "makefile": true, "gnumakefile": true, "dockerfile": true, "containerfile": true, "rakefile": true,
    "gemfile": true, "vagrantfile": true, "podfile": true, "brewfile": true, "guardfile": true,
    "cmakelists.txt": true, "build": true, "workspace": true, "build.bazel": true, "workspace.bazel": true,
    "meson.build": true, "configure": true, "pkgbuild": true, "apkbuild": true, "procfile": true,
    "pipfile": true, "justfile": true, "kbuild": true, "kconfig": true, "snakefile": true, "tiltfile": true,
    "jenkinsfile": false, "fastfile": true, "appfile": true, "caddyfile": true,
]

/// Extensions whose languages start line comments with `#`.
let hashCommentExtensions: Set<String> = [
    "py", "pyw", "pyi", "pyx", "sh", "bash", "zsh", "ksh", "fish", "rb", "rake", "gemspec", "pl", "pm", "t",
    "r", "jl", "ex", "exs", "cr", "nim", "coffee", "ps1", "psm1", "psd1", "yaml", "yml", "toml", "cmake",
    "mk", "mak", "make", "conf", "cfg", "ini", "tf", "hcl", "nix", "awk", "sed", "tcl", "bzl", "bazel", "star",
    "gitattributes", "gitignore", "gitmodules", "dockerfile", "php", "ac", "am", "m4", "gn", "gni",
    "mojo", "raku", "rakumod", "elv", "nu", "just", "service", "desktop", "editorconfig", "env",
]

/// `#!` interpreters whose languages use `//` comments.
let slashCommentInterpreters: Set<String> = ["node", "nodejs", "deno", "bun", "ts-node", "tsx", "rdmd", "swift", "scala", "kotlin", "groovy", "jshell", "dotnet-script"]

/// The interpreter a `#!` first line names (`#!/usr/bin/env python3` → `python3`), or nil.
func shebangInterpreter(_ head: ArraySlice<UInt8>) -> String? {
    guard head.starts(with: [UInt8(ascii: "#"), UInt8(ascii: "!")]) else { return nil }
    let line = head.dropFirst(2).prefix { $0 != 0x0A && $0 != 0x0D }.prefix(256)
    var words = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self) }
    guard !words.isEmpty else { return nil }
    var program = String(words.removeFirst().split(separator: "/").last ?? "")
    // `env [-S] [VAR=value…] program`
    if program == "env" {
        words.removeAll { $0.hasPrefix("-") || $0.contains("=") }
        program = words.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
    }
    return program.isEmpty ? nil : program
}

func isIdentifierStart(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return (0x41...0x5A).contains(s.value) || (0x61...0x7A).contains(s.value) || s == "_" || s == "$" }
    return s.properties.isXIDStart
}

func isIdentifierContinue(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return isIdentifierStart(s) || (0x30...0x39).contains(s.value) }
    return s.properties.isXIDContinue
}

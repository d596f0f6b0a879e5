// Which files hold code, and how their identifiers and comments are written.

/// Whether a file is source code, by its extension, for the identifier rules.
func isSourceCode(_ path: [UInt8]) -> Bool {
    let name = String(decoding: path.split(separator: UInt8(ascii: "/")).last ?? [], as: UTF8.self).lowercased()
    guard let dot = name.lastIndex(of: ".") else { return false }
    return sourceExtensions.contains(String(name[name.index(after: dot)...]))
}

private let sourceExtensions: Set<String> = [
    "c", "h", "cc", "cpp", "cxx", "hh", "hpp", "hxx", "m", "mm", "swift", "go", "rs", "java", "kt", "kts",
    "scala", "cs", "fs", "js", "mjs", "cjs", "ts", "tsx", "jsx", "py", "rb", "php", "pl", "pm", "lua", "sh",
    "bash", "zsh", "ps1", "sql", "r", "jl", "dart", "ex", "exs", "erl", "hs", "ml", "zig", "nim", "v", "sv",
    "vhd", "vhdl", "asm", "s", "groovy", "gradle", "cmake", "tf",
]

func isIdentifierStart(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return (0x41...0x5A).contains(s.value) || (0x61...0x7A).contains(s.value) || s == "_" || s == "$" }
    return s.properties.isXIDStart
}

func isIdentifierContinue(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII { return isIdentifierStart(s) || (0x30...0x39).contains(s.value) }
    return s.properties.isXIDContinue
}

func usesHashComments(_ path: [UInt8]) -> Bool {
    let name = String(decoding: path, as: UTF8.self).lowercased()
    let suffixes = [".py", ".sh", ".bash", ".rb", ".pl", ".pm", ".yaml", ".yml", ".toml", ".cmake", ".mk", ".r", ".conf", ".cfg", ".ini"]
    return suffixes.contains { name.hasSuffix($0) } || name.hasSuffix("makefile") || name.hasSuffix("cmakelists.txt")
}


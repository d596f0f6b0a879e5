#!/usr/bin/env python3
"""Second-opinion verifier for Glassbox manifests (Manifests/FORMAT.md, version 1).

Written from the spec alone, sharing no code with the Swift tool, so that a reviewer who
distrusts the Swift code can re-derive the Merkle root and re-hash a tree independently.

  reference-verify.py root MANIFEST        recompute count and root; exit 0 if they match
  reference-verify.py check MANIFEST DIR   also compare the entries with a directory tree

Exit status: 0 verified, 1 mismatch or differences, 2 malformed input or unreadable tree.
"""
import argparse
import base64
import hashlib
import os
import stat
import sys

DASH = "\u2014 ".encode()  # signature lines start with an EM DASH and a space
KINDS = (b"file", b"exec", b"link", b"submodule")
SIMPLE = {0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}
UNSIMPLE = {b"\\": 0x5C, b"n": 0x0A, b"r": 0x0D, b"t": 0x09}
HEX = b"0123456789abcdef"


class Malformed(Exception):
    pass


def escape(raw):
    out = []
    # surrogateescape maps each byte outside a valid UTF-8 sequence to U+DC80..U+DCFF,
    # which is exactly the spec's byte-by-byte rule.
    for ch in raw.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if c in SIMPLE:
            out.append(SIMPLE[c])
        elif c < 0x20 or c == 0x7F:
            out.append(b"\\x%02x" % c)
        elif 0x80 <= c <= 0x9F:
            out.append(b"\\xc2\\x%02x" % c)  # a C1 control: both of its UTF-8 bytes
        elif 0xDC80 <= c <= 0xDCFF:
            out.append(b"\\x%02x" % (c - 0xDC00))
        else:
            out.append(ch.encode("utf-8"))
    # A space at either end would be invisible (and trimmed by careless tools).
    if raw[:1] == b" ":
        out[0] = b"\\x20"
    if raw[-1:] == b" ":
        out[-1] = b"\\x20"
    return b"".join(out)


def unescape(text):
    raw, i = bytearray(), 0
    while i < len(text):
        if text[i] != 0x5C:
            raw.append(text[i])
            i += 1
        elif text[i + 1:i + 2] in UNSIMPLE:
            raw.append(UNSIMPLE[text[i + 1:i + 2]])
            i += 2
        elif text[i + 1:i + 2] == b"x" and len(text) >= i + 4 and all(b in HEX for b in text[i + 2:i + 4]):
            raw.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raw_text = text.decode("utf-8", "backslashreplace")
            raise Malformed(f"bad escape at byte {i} in {raw_text!r}")
    raw = bytes(raw)
    # One encoding per value: anything the escaper would not have written is rejected.
    if escape(raw) != text:
        raise Malformed(f"non-canonical escaping: {text.decode('utf-8', 'backslashreplace')!r}")
    return raw


def is_decimal(b):
    return b.isdigit() and (b == b"0" or not b.startswith(b"0"))


def is_base64(b, least, most=None):
    try:
        raw = base64.b64decode(b, validate=True)
    except ValueError:
        return False
    return base64.b64encode(raw) == b and least <= len(raw) <= (most or len(raw))


def is_hex(b, *lengths):
    return len(b) in lengths and all(c in HEX for c in b)


def mth(leaves):
    """RFC 6962 Merkle Tree Hash over a list of leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def parse_header(note):
    if len(note) < 7:
        raise Malformed("note text has fewer than 7 lines")
    try:
        text = b"\n".join(note).decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("note text is not valid UTF-8")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text.replace("\n", "")):
        raise Malformed("control character in note text")
    origin, count, root = note[0], note[1], note[2]
    if not origin or b" " in origin or b"+" in origin:
        raise Malformed("bad origin line")
    if not is_decimal(count):
        raise Malformed("bad count line")
    if not is_base64(root, 32, 32):
        raise Malformed("root line is not canonical base64 of 32 bytes")
    # Extension lines: a fixed order, some conditional, and nothing else.
    ext, i = note[3:], 1
    if ext[0] != b"glassbox-manifest v1":
        raise Malformed("line 4 is not 'glassbox-manifest v1'")

    def take(prefix, check, optional=False):
        nonlocal i
        if i < len(ext) and ext[i].startswith(prefix) and check(ext[i][len(prefix):]):
            i += 1
            return ext[i - 1][len(prefix):]
        if not optional:
            raise Malformed(f"line {i + 4}: expected a valid {prefix.decode().strip()!r} line")
        return None

    take(b"name ", unescape)
    take(b"version ", unescape)
    source = take(b"source ", lambda v: v in (b"git", b"directory"))
    if source == b"git":
        take(b"commit ", lambda v: is_hex(v, 40, 64))
        take(b"tree ", lambda v: is_hex(v, 40, 64))
    if take(b"tag ", unescape, optional=True) is not None:
        take(b"tag-object ", lambda v: is_hex(v, 40, 64), optional=True)
    last = None
    while i < len(ext) and ext[i].startswith(b"artifact "):
        fields = ext[i].split(b" ", 3)
        if len(fields) != 4 or not is_decimal(fields[1]) or not is_hex(fields[2], 64):
            raise Malformed(f"line {i + 4}: bad artifact line")
        name = unescape(fields[3])
        if last is not None and name <= last:
            raise Malformed(f"line {i + 4}: artifacts not sorted or repeated")
        last, i = name, i + 1
    if i != len(ext):
        raise Malformed(f"line {i + 4}: unknown, repeated or misordered line")
    return int(count), root


def parse_entry(line, number):
    fields = line.split(b" ", 3)
    if len(fields) != 4 or fields[0] not in KINDS:
        raise Malformed(f"line {number}: not an entry line")
    kind, size, digest, escaped = fields
    if kind == b"submodule":
        ok = size == b"-" and is_hex(digest, 40, 64)
    else:
        ok = is_decimal(size) and is_hex(digest, 64)
    if not ok:
        raise Malformed(f"line {number}: bad size or digest")
    try:
        path = unescape(escaped)
    except Malformed as e:
        raise Malformed(f"line {number}: {e}")
    if path.startswith(b"/") or any(c in (b"", b".", b"..", b".git") for c in path.split(b"/")):
        raise Malformed(f"line {number}: bad path {escaped.decode('utf-8', 'replace')!r}")
    return path, (kind, size, digest)


def parse_manifest(data):
    """Returns (stated count, stated root, computed count, computed root, {path: entry})."""
    if not data.endswith(b"\n"):
        raise Malformed("the file does not end with a newline")
    if b"\r" in data:
        raise Malformed("CR in the file")
    lines = data[:-1].split(b"\n")
    if b"" not in lines:
        raise Malformed("no empty line after the note text")
    blank = lines.index(b"")
    count, root = parse_header(lines[:blank])
    n = blank + 1
    while n < len(lines) and lines[n].startswith(DASH):
        fields = lines[n][len(DASH):].split(b" ")
        if len(fields) != 2 or not fields[0] or b"+" in fields[0] or not is_base64(fields[1], 5):
            raise Malformed(f"line {n + 1}: bad signature line")
        n += 1
    if n - blank - 1 > 100:
        raise Malformed("more than 100 signature lines")
    entries, leaves, last = {}, [], None
    for number, line in enumerate(lines[n:], start=n + 1):
        path, entry = parse_entry(line, number)
        if last is not None and path <= last:
            raise Malformed(f"line {number}: paths not sorted by raw bytes, or repeated")
        entries[path], last = entry, path
        leaves.append(hashlib.sha256(b"\x00" + line).digest())
    return count, root, len(leaves), base64.b64encode(mth(leaves)), entries


def read_tree(top):
    """Walks a directory like the spec's 'source directory', keyed by raw relative path."""
    found = {}

    def walk(dirpath, prefix):
        with os.scandir(dirpath) as it:
            for de in it:
                if de.name == b".git":
                    continue  # git trees cannot hold .git, so neither can a manifest
                full, rel = os.path.join(dirpath, de.name), prefix + de.name
                st = os.lstat(full)
                if stat.S_ISDIR(st.st_mode):
                    walk(full, rel + b"/")
                elif stat.S_ISLNK(st.st_mode):
                    target = os.readlink(full)
                    found[rel] = (b"link", b"%d" % len(target), hashlib.sha256(target).hexdigest().encode())
                elif stat.S_ISREG(st.st_mode):
                    h, size = hashlib.sha256(), 0
                    with open(full, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                            size += len(chunk)
                    kind = b"exec" if st.st_mode & 0o100 else b"file"
                    found[rel] = (kind, b"%d" % size, h.hexdigest().encode())
                else:
                    raise Malformed(f"{full.decode('utf-8', 'backslashreplace')}: not a file, link or directory")

    walk(os.fsencode(top), b"")
    return found


def differences(want, have):
    for path in sorted(want.keys() | have.keys()):
        w, h = want.get(path), have.get(path)
        if h is None:
            yield b"missing", path
        elif w is None:
            yield b"extra", path
        elif {w[0], h[0]} == {b"file", b"exec"}:
            yield b"mode-changed", path
            if w[1:] != h[1:]:
                yield b"modified", path
        elif w[0] != h[0]:
            yield b"kind-changed", path
        elif w[0] == b"submodule" and w != h:
            yield b"submodule-moved", path  # only reachable if both sides were manifests
        elif w[1:] != h[1:]:
            yield (b"retargeted" if w[0] == b"link" else b"modified"), path


def main():
    ap = argparse.ArgumentParser(description="Independent verifier for Glassbox manifests.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("root", help="recompute the entry count and Merkle root").add_argument("manifest")
    chk = sub.add_parser("check", help="also compare the entries with a directory")
    chk.add_argument("manifest")
    chk.add_argument("dir")
    args = ap.parse_args()
    out = sys.stdout.buffer
    try:
        with open(args.manifest, "rb") as f:
            count, root, n, computed, entries = parse_manifest(f.read())
        tree = read_tree(args.dir) if args.command == "check" else None
    except (Malformed, OSError) as e:
        print(f"reference-verify: {e}", file=sys.stderr)
        return 2
    status = 0
    if args.command == "root":
        out.write(b"count %d\nroot %s\n" % (n, computed))
    else:
        diffs = list(differences(entries, tree))
        for kind, path in diffs:
            out.write(kind + b" " + escape(path) + b"\n")
        out.write(b"%d differences\n" % len(diffs))
        status = 1 if diffs else 0
    if (n, computed) != (count, root):
        print(f"reference-verify: MISMATCH: manifest states count {count} root {root.decode()}, "
              f"entries give count {n} root {computed.decode()}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

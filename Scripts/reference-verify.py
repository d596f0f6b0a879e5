#!/usr/bin/env python3
"""Second-opinion verifier for Glassbox manifests (Manifests/FORMAT.md, version 1).

Written from the spec alone, sharing no code with the Swift tool, so that a reviewer who
distrusts the Swift code can re-derive the Merkle root and re-hash a tree independently.

  reference-verify.py root MANIFEST        print the recomputed count and root
  reference-verify.py check MANIFEST DIR   also list how DIR differs from the entries

Exit status: 0 verified, 1 root/count mismatch or differences, 2 malformed input or bad tree.
Signatures are not checked here; any C2SP signed-note verifier can do that.
"""
import argparse
import base64
import hashlib
import os
import stat
import sys

DASH = "\u2014 ".encode()  # signature lines start with U+2014 EM DASH and a space
KINDS = (b"file", b"exec", b"link", b"submodule")
HEX = b"0123456789abcdef"
NAMED = {0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}
UNNAMED = {ord(v[1:]): k for k, v in NAMED.items()}


class Malformed(Exception):
    pass


def escape(raw):
    out = []
    # surrogateescape turns each byte that is not part of a valid UTF-8 sequence into
    # U+DC80..U+DCFF, one byte at a time: exactly the spec's rule for invalid UTF-8.
    for ch in raw.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if c in NAMED:
            out.append(NAMED[c])
        elif c < 0x20 or c == 0x7F:
            out.append(b"\\x%02x" % c)
        elif 0x80 <= c <= 0x9F:
            out.append(b"\\xc2\\x%02x" % c)  # a C1 control: both of its UTF-8 bytes
        elif 0xDC80 <= c <= 0xDCFF:
            out.append(b"\\x%02x" % (c - 0xDC00))
        else:
            out.append(ch.encode("utf-8"))
    # A space at either end would be invisible, and easily trimmed away by other tools.
    if raw.startswith(b" "):
        out[0] = b"\\x20"
    if raw.endswith(b" "):
        out[-1] = b"\\x20"
    return b"".join(out)


def unescape(text):
    raw, i = bytearray(), 0
    while i < len(text):
        c, nxt = text[i], text[i + 1:i + 2]
        if c != 0x5C:
            raw.append(c)
            i += 1
        elif nxt and nxt[0] in UNNAMED:
            raw.append(UNNAMED[nxt[0]])
            i += 2
        elif nxt == b"x" and len(text) >= i + 4 and all(h in HEX for h in text[i + 2:i + 4]):
            raw.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise Malformed(f"bad escape at byte {i} of {show(text)}")
    # One encoding per value: anything the escaper would not have written is rejected,
    # so two different lines can never name the same path.
    if escape(bytes(raw)) != text:
        raise Malformed(f"non-canonical escaping: {show(text)}")
    return bytes(raw)


def show(b):
    return repr(b.decode("utf-8", "backslashreplace"))


def is_decimal(b):
    return b.isdigit() and (b == b"0" or not b.startswith(b"0"))


def is_hex(b, *lengths):
    return len(b) in lengths and all(c in HEX for c in b)


def is_escaped(b):
    return unescape(b) is not None  # (or raises Malformed)


def is_artifact(b):
    f = b.split(b" ", 2)
    return len(f) == 3 and is_decimal(f[0]) and is_hex(f[1], 64) and is_escaped(f[2])


def is_base64(b, least, most):
    try:
        raw = base64.b64decode(b, validate=True)
    except ValueError:
        return False
    # Re-encoding rejects missing padding and stray trailing bits: one encoding per value.
    return base64.b64encode(raw) == b and least <= len(raw) <= most


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
    """Checks the note text and returns the stated (count, root)."""
    if len(note) < 7:
        raise Malformed("the note text has fewer than 7 lines")
    try:
        text = b"\n".join(note).decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the note text is not valid UTF-8")
    # C1 controls count as control characters too (the escaping table calls them that).
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text.replace("\n", "")):
        raise Malformed("a control character in the note text")
    origin, count, root, fmt = note[:4]
    if not origin or b" " in origin or b"+" in origin:
        raise Malformed("line 1: bad origin")
    if not is_decimal(count):
        raise Malformed("line 2: the count is not a canonical decimal")
    if not is_base64(root, 32, 32):
        raise Malformed("line 3: the root is not canonical base64 of 32 bytes")
    if fmt != b"glassbox-manifest v1":
        raise Malformed("line 4: not 'glassbox-manifest v1'")
    # Extension lines come in one fixed order, some only for git; nothing else may appear.
    i = 4

    def take(prefix, valid, optional=False):
        nonlocal i
        value = note[i][len(prefix):] if i < len(note) and note[i].startswith(prefix) else None
        try:
            ok = value is not None and valid(value)
        except Malformed:
            ok = False
        if ok:
            i += 1
            return value
        if not optional:
            raise Malformed(f"line {i + 1}: expected a valid '{prefix.decode()}...' line")
        return None

    take(b"name ", is_escaped)
    take(b"version ", is_escaped)
    if take(b"source ", lambda v: v in (b"git", b"git-archive", b"directory")) in (b"git", b"git-archive"):
        take(b"commit ", lambda v: is_hex(v, 40, 64))
        take(b"tree ", lambda v: is_hex(v, 40, 64))
        if take(b"tag ", is_escaped, optional=True) is not None:
            take(b"tag-object ", lambda v: is_hex(v, 40, 64), optional=True)
    take(b"recipe ", is_escaped, optional=True)
    names = []
    while (value := take(b"artifact ", is_artifact, optional=True)) is not None:
        names.append(unescape(value.split(b" ", 2)[2]))
    if names != sorted(set(names)):
        raise Malformed("artifacts not sorted by raw name, or repeated")
    if i != len(note):
        raise Malformed(f"line {i + 1}: unknown, repeated or misordered note text line")
    return int(count), root


def parse_entry(line):
    fields = line.split(b" ", 3)
    if len(fields) != 4 or fields[0] not in KINDS:
        raise Malformed("not an entry line")
    kind, size, digest, path = fields
    if kind == b"submodule":
        ok = size == b"-" and is_hex(digest, 40, 64)
    else:
        ok = is_decimal(size) and is_hex(digest, 64)
    if not ok:
        raise Malformed("bad size or digest")
    raw = unescape(path)
    if raw.startswith(b"/") or any(c in (b"", b".", b"..", b".git") for c in raw.split(b"/")):
        raise Malformed(f"bad path {show(path)}")
    return raw, (kind, size, digest)


def parse_manifest(data):
    """Returns (stated count, stated root, entry count, computed root, {raw path: entry})."""
    if not data.endswith(b"\n"):
        raise Malformed("the file does not end with a newline")
    if b"\r" in data:
        raise Malformed("a CR in the file")
    lines = data[:-1].split(b"\n")
    if b"" not in lines:
        raise Malformed("no empty line after the note text")
    n = lines.index(b"")
    count, root = parse_header(lines[:n])
    n = signatures = n + 1
    while n < len(lines) and lines[n].startswith(DASH):
        fields = lines[n][len(DASH):].split(b" ")
        # key name, then base64 of a 4-byte key id and a non-empty signature
        if len(fields) != 2 or not fields[0] or b"+" in fields[0] or not is_base64(fields[1], 5, 1 << 16):
            raise Malformed(f"line {n + 1}: bad signature line")
        n += 1
    if n - signatures > 100:
        raise Malformed("more than 100 signature lines")
    entries, leaves, last = {}, [], None
    for number, line in enumerate(lines[n:], start=n + 1):
        try:
            path, entry = parse_entry(line)
        except Malformed as e:
            raise Malformed(f"line {number}: {e}")
        if last is not None and path <= last:
            raise Malformed(f"line {number}: paths not sorted by raw bytes, or repeated")
        entries[path], last = entry, path
        leaves.append(hashlib.sha256(b"\x00" + line).digest())
    return count, root, len(leaves), base64.b64encode(mth(leaves)), entries


def read_tree(top):
    """The entries of a directory tree, keyed by raw relative path."""
    found = {}

    def walk(directory, prefix):
        with os.scandir(directory) as it:
            for de in it:
                if de.name == b".git":
                    continue  # git trees cannot hold .git, so no manifest lists one
                full, rel = os.path.join(directory, de.name), prefix + de.name
                st = os.lstat(full)  # lstat: a symlink is an entry, never followed
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
                    kind = b"exec" if st.st_mode & 0o100 else b"file"  # the owner's x bit, as git
                    found[rel] = (kind, b"%d" % size, h.hexdigest().encode())
                else:
                    raise Malformed(f"{show(full)}: not a file, symlink or directory")

    walk(os.fsencode(top), b"")
    return found


def differences(want, have):
    """(kind, raw path) for every way `have` (the tree) differs from `want` (the manifest)."""
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
        elif w != h:
            yield {b"link": b"retargeted", b"submodule": b"submodule-moved"}.get(w[0], b"modified"), path


def main():
    ap = argparse.ArgumentParser(description="Independent verifier for Glassbox manifests.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("root", help="recompute the entry count and Merkle root").add_argument("manifest")
    check = sub.add_parser("check", help="also compare the entries with a directory")
    check.add_argument("manifest")
    check.add_argument("dir")
    args = ap.parse_args()
    try:
        with open(args.manifest, "rb") as f:
            count, root, n, computed, entries = parse_manifest(f.read())
        tree = read_tree(args.dir) if args.command == "check" else None
    except (Malformed, OSError) as e:
        print(f"reference-verify: {e}", file=sys.stderr)
        return 2
    out, status = sys.stdout.buffer, 0
    if args.command == "root":
        out.write(b"count %d\nroot %s\n" % (n, computed))
    else:
        diffs = list(differences(entries, tree))
        for kind, path in diffs:
            out.write(kind + b" " + escape(path) + b"\n")
        out.write(b"%d differences\n" % len(diffs))
        status = 1 if diffs else 0
    if (n, computed) != (count, root):
        print(f"reference-verify: MISMATCH: the manifest states count {count} root {root.decode()}, "
              f"its entries give count {n} root {computed.decode()}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An independent check of `glassbox export in-toto`, written from the specs alone.

    dsse-verify.py ENVELOPE VKEY_FILE MANIFEST

Verifies the DSSE envelope's signature over PAE (secure-systems-lab/dsse protocol.md) with the
public key in a C2SP verifier key file (c2sp.org/signed-note: NAME+KEYID+base64(type || key),
type 0x01 Ed25519 raw key, 0x02 ECDSA P-256 DER SubjectPublicKeyInfo), using the Python
`cryptography` package (Debian: python3-cryptography); then checks that the in-toto Statement
names the manifest's artifacts as subjects and its commit, tree and root as the source
(Manifests/FORMAT.md). Prints one line; exits 0 when everything holds, 1 when not.
"""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key


def fail(reason):
    print("FAILED: " + reason)
    sys.exit(1)


def pae(payload_type, payload):
    # "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body; LEN is the byte length in decimal.
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def main(envelope_path, vkey_path, manifest_path):
    with open(envelope_path, "rb") as f:
        envelope = json.loads(f.read())
    with open(vkey_path) as f:
        name, keyid, blob = f.read().strip().split("+", 2)
    blob = base64.b64decode(blob)

    payload = base64.b64decode(envelope["payload"])
    payload_type = envelope["payloadType"].encode()
    if payload_type != b"application/vnd.in-toto+json":
        fail("payloadType is %r" % envelope["payloadType"])
    if len(envelope["signatures"]) != 1:
        fail("expected one signature")
    signature = envelope["signatures"][0]
    if signature.get("keyid") != name + "+" + keyid:
        fail("keyid %r is not %r" % (signature.get("keyid"), name + "+" + keyid))
    sig = base64.b64decode(signature["sig"])
    message = pae(payload_type, payload)
    try:
        if blob[0] == 0x01:
            ed25519.Ed25519PublicKey.from_public_bytes(blob[1:]).verify(sig, message)
        elif blob[0] == 0x02:
            load_der_public_key(blob[1:]).verify(sig, message, ec.ECDSA(hashes.SHA256()))
        else:
            fail("unknown key type 0x%02x" % blob[0])
    except InvalidSignature:
        fail("the signature does not verify over PAE")

    # The manifest's note text: everything before the first empty line.
    with open(manifest_path, "rb") as f:
        note = f.read().split(b"\n\n", 1)[0].decode().split("\n")
    root = base64.b64decode(note[2]).hex()
    fields = {}
    artifacts = []
    for line in note[3:]:
        word, _, rest = line.partition(" ")
        if word == "artifact":
            size, digest, artifact_name = rest.split(" ", 2)
            artifacts.append({"name": artifact_name, "digest": {"sha256": digest}})
        else:
            fields[word] = rest

    statement = json.loads(payload)
    if statement.get("_type") != "https://in-toto.io/Statement/v1":
        fail("_type is %r" % statement.get("_type"))
    if statement.get("predicateType") != "https://slsa.dev/provenance/v1":
        fail("predicateType is %r" % statement.get("predicateType"))
    if statement.get("subject") != artifacts:
        fail("the subjects are not the manifest's artifacts: %r" % statement.get("subject"))
    source = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    expected = {"glassboxManifestRoot": root}
    if "commit" in fields:
        expected["gitCommit"] = fields["commit"]
        expected["gitTree"] = fields["tree"]
    if "tag-object" in fields:
        expected["gitTag"] = fields["tag-object"]
    if source.get("digest") != expected:
        fail("the source digest %r is not %r" % (source.get("digest"), expected))
    if source.get("name") != note[0]:
        fail("the source is named %r, not the origin %r" % (source.get("name"), note[0]))
    print("verified: %s signed %d subject%s of %s (%s)" % (
        name + "+" + keyid, len(artifacts), "" if len(artifacts) == 1 else "s", note[0], ", ".join("%s=%s" % kv for kv in sorted(expected.items()))))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: dsse-verify.py ENVELOPE VKEY_FILE MANIFEST")
    main(*sys.argv[1:])

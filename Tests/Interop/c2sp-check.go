// Command c2sp-check is an independent check of Glassbox output with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian golang-golang-x-mod-dev).
//
//	c2sp-check note VKEY NOTEFILE        open a signed note; print the verified signers
//	c2sp-check proof VKEY PROOFFILE      check a tlog-proof@v1 file's inclusion proof under
//	                                     its signed checkpoint; print the index and tree size
//
// Exit 0 when the check passes, 1 when it fails.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "c2sp-check: "+format+"\n", args...)
	os.Exit(1)
}

func openNote(vkey string, msg []byte) *note.Note {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	return n
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: c2sp-check note|proof VKEY FILE")
	}
	data, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	switch os.Args[1] {
	case "note":
		n := openNote(os.Args[2], data)
		for _, s := range n.Sigs {
			fmt.Println("verified", s.Name)
		}
	case "proof":
		// tlog-proof@v1: header, extra, index, hashes, empty line, checkpoint note.
		head, checkpoint, ok := bytes.Cut(data, []byte("\n\n"))
		if !ok {
			fail("no empty line")
		}
		lines := strings.Split(string(head), "\n")
		if lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") || !strings.HasPrefix(lines[2], "index ") {
			fail("not a tlog-proof@v1 with extra and index")
		}
		leaf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
		if err != nil {
			fail("extra: %v", err)
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(lines[2], "index "), 10, 64)
		if err != nil {
			fail("index: %v", err)
		}
		var proof tlog.RecordProof
		for _, l := range lines[3:] {
			h, err := tlog.ParseHash(l)
			if err != nil {
				fail("hash: %v", err)
			}
			proof = append(proof, h)
		}
		n := openNote(os.Args[2], checkpoint)
		text := strings.Split(n.Text, "\n")
		size, err := strconv.ParseInt(text[1], 10, 64)
		if err != nil {
			fail("checkpoint size: %v", err)
		}
		root, err := tlog.ParseHash(text[2])
		if err != nil {
			fail("checkpoint root: %v", err)
		}
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(leaf)); err != nil {
			fail("tlog.CheckRecord: %v", err)
		}
		fmt.Printf("included index %d of %d: %s\n", index, size, leaf)
	default:
		fail("unknown check %q", os.Args[1])
	}
}

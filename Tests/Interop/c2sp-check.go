// Command c2sp-check is an independent check of Glassbox output with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian golang-golang-x-mod-dev).
//
//	c2sp-check note VKEY NOTEFILE        open a signed note; print the verified signers
//	c2sp-check proof VKEY PROOFFILE      check a tlog-proof@v1 file's inclusion proof under
//	                                     its signed checkpoint; print the index and tree size
//	c2sp-check logproof VKEY PROOFFILE ENTRYFILE
//	                                     the same for a proof without an extra line, whose
//	                                     entry (the leaf's data) is in ENTRYFILE
//	c2sp-check logroot VKEY DIR          recompute a tlog-tiles log's root from its entry
//	                                     bundles with tlog's stored hashes; compare with the
//	                                     signed checkpoint; check the level-0 tiles' hashes
//	c2sp-check consistency OLDNOTE NEWNOTE VKEY PROOFFILE
//	                                     check a consistency proof between two checkpoints
//
// Exit 0 when the check passes, 1 when it fails.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
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

type hashReader []tlog.Hash

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= int64(len(r)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = r[x]
	}
	return out, nil
}

func parseHashes(lines []string) []tlog.Hash {
	var hashes []tlog.Hash
	for _, l := range lines {
		h, err := tlog.ParseHash(l)
		if err != nil {
			fail("hash: %v", err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

func checkpointOf(n *note.Note) (int64, tlog.Hash) {
	text := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(text[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root, err := tlog.ParseHash(text[2])
	if err != nil {
		fail("checkpoint root: %v", err)
	}
	return size, root
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: c2sp-check note|proof|logproof|logroot|consistency ...")
	}
	data, _ := os.ReadFile(os.Args[3])
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
		proof := tlog.RecordProof(parseHashes(lines[3:]))
		size, root := checkpointOf(openNote(os.Args[2], checkpoint))
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(leaf)); err != nil {
			fail("tlog.CheckRecord: %v", err)
		}
		fmt.Printf("included index %d of %d: %s\n", index, size, leaf)
	case "logproof":
		head, checkpoint, _ := bytes.Cut(data, []byte("\n\n"))
		lines := strings.Split(string(head), "\n")
		if lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "index ") {
			fail("not a tlog-proof@v1 without extra")
		}
		index, _ := strconv.ParseInt(strings.TrimPrefix(lines[1], "index "), 10, 64)
		proof := tlog.RecordProof(parseHashes(lines[2:]))
		entry, err := os.ReadFile(os.Args[4])
		if err != nil {
			fail("%v", err)
		}
		size, root := checkpointOf(openNote(os.Args[2], checkpoint))
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entry)); err != nil {
			fail("tlog.CheckRecord: %v", err)
		}
		fmt.Printf("included index %d of %d\n", index, size)
	case "logroot":
		dir := os.Args[3]
		note, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if err != nil {
			fail("%v", err)
		}
		size, root := checkpointOf(openNote(os.Args[2], note))
		var stored []tlog.Hash
		var n int64
		for t := int64(0); n < size; t++ {
			width := size - t*256
			if width > 256 {
				width = 256
			}
			name := fmt.Sprintf("%03d", t)
			if width < 256 {
				name += fmt.Sprintf(".p/%d", width)
			}
			bundle, err := os.ReadFile(filepath.Join(dir, "tile", "entries", name))
			if err != nil {
				fail("%v", err)
			}
			var leaves []byte
			for len(bundle) > 0 {
				l := int(bundle[0])<<8 | int(bundle[1])
				entry := bundle[2 : 2+l]
				bundle = bundle[2+l:]
				h := tlog.RecordHash(entry)
				leaves = append(leaves, h[:]...)
				more, err := tlog.StoredHashes(n, entry, hashReader(stored))
				if err != nil {
					fail("StoredHashes: %v", err)
				}
				stored = append(stored, more...)
				n++
			}
			tile, err := os.ReadFile(filepath.Join(dir, "tile", "0", name))
			if err != nil || !bytes.Equal(tile, leaves) {
				fail("tile/0/%s does not hold the entries' leaf hashes", name)
			}
		}
		got, err := tlog.TreeHash(size, hashReader(stored))
		if err != nil {
			fail("TreeHash: %v", err)
		}
		if got != root {
			fail("root %v, checkpoint says %v", got, root)
		}
		fmt.Printf("root of %d entries matches the checkpoint\n", size)
	case "consistency":
		oldNote, _ := os.ReadFile(os.Args[2])
		newNote, _ := os.ReadFile(os.Args[3])
		vkey, _ := os.ReadFile(os.Args[4])
		// Args shift: consistency OLDNOTE NEWNOTE VKEYFILE PROOFFILE
		proofText, err := os.ReadFile(os.Args[5])
		if err != nil {
			fail("%v", err)
		}
		oldSize, oldRoot := checkpointOf(openNote(strings.TrimSpace(string(vkey)), oldNote))
		newSize, newRoot := checkpointOf(openNote(strings.TrimSpace(string(vkey)), newNote))
		proof := tlog.TreeProof(parseHashes(strings.Split(strings.TrimSpace(string(proofText)), "\n")[3:]))
		if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
			fail("tlog.CheckTree: %v", err)
		}
		fmt.Printf("consistent from %d to %d\n", oldSize, newSize)
	default:
		fail("unknown check %q", os.Args[1])
	}
}

// The loops of the scan that see every byte of a file, written in C so that the compiler turns
// them into vector code: counts of a few byte values (every file of a git tree), and the
// search of a binary-looking file for the only byte pairs its stretches of text are lexed for.
// Nothing else of the scan is in C.
#ifndef CSCANKERNEL_H
#define CSCANKERNEL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lf;            // 0x0A
    uint64_t cr;            // 0x0D
    uint64_t crlf;          // 0x0D followed by 0x0A, both in the bytes given
    uint64_t nul;           // 0x00
    uint64_t nonprintable;  // git's: controls other than BS, HT, LF, FF, CR and ESC, and DEL
} gb_byte_counts;

// Adds the counts of `length` bytes at `bytes` to `counts`.
void gb_count_bytes(const uint8_t *bytes, size_t length, gb_byte_counts *counts);

// How many of `length` bytes at `bytes` are `value`.
size_t gb_count_byte(const uint8_t *bytes, size_t length, uint8_t value);

// The index of the last byte equal to `value` in `length` bytes at `bytes`, or `length`
// when none is.
size_t gb_last_byte(const uint8_t *bytes, size_t length, uint8_t value);

// The index of the first byte that, with the one after it, is one of the `count` pairs (each
// first << 8 | second); the last byte counts when it is the first of any pair. `length` when
// none is.
size_t gb_find_pair(const uint8_t *bytes, size_t length, const uint16_t *pairs, size_t count);

#endif

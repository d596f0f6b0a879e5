// The one loop of the scan that sees every byte of every file of a git tree: counts of a few
// byte values, written in C so that the compiler turns it into vector code. Nothing else of
// the scan is in C.
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

#endif

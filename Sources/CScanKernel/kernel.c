#include "CScanKernel.h"

void gb_count_bytes(const uint8_t *bytes, size_t length, gb_byte_counts *counts) {
    const uint8_t *end = bytes + length;
    // Blocks of at most 255 bytes keep the counters in 8 bits, which vectorises widest.
    while (bytes < end) {
        size_t block = (size_t)(end - bytes) < 255 ? (size_t)(end - bytes) : 255;
        // A pair may end just past the block; the last byte of all starts none.
        size_t pairs = bytes + block < end ? block : block - 1;
        uint8_t lf = 0, cr = 0, crlf = 0, nul = 0, nonprintable = 0;
        for (size_t i = 0; i < block; i++) {
            uint8_t b = bytes[i];
            lf += b == 0x0A;
            cr += b == 0x0D;
            nul += b == 0;
            nonprintable += ((b < 0x20) & (b != 0x08) & (b != 0x09) & (b != 0x0A) & (b != 0x0C) & (b != 0x0D) & (b != 0x1B)) | (b == 0x7F);
        }
        if (cr) for (size_t i = 0; i < pairs; i++) crlf += (bytes[i] == 0x0D) & (bytes[i + 1] == 0x0A);
        counts->lf += lf;
        counts->cr += cr;
        counts->crlf += crlf;
        counts->nul += nul;
        counts->nonprintable += nonprintable;
        bytes += block;
    }
}

size_t gb_count_byte(const uint8_t *bytes, size_t length, uint8_t value) {
    size_t total = 0;
    while (length > 0) {
        size_t block = length < 255 ? length : 255;
        uint8_t count = 0;
        for (size_t i = 0; i < block; i++) count += bytes[i] == value;
        total += count;
        bytes += block;
        length -= block;
    }
    return total;
}

size_t gb_last_byte(const uint8_t *bytes, size_t length, uint8_t value) {
    for (size_t i = length; i > 0; i--) if (bytes[i - 1] == value) return i - 1;
    return length;
}

// 32 bytes at any alignment, in the compiler's generic vectors (AVX2 or two SSE2 registers).
typedef uint8_t gb_v32 __attribute__((vector_size(32), aligned(1)));

// Built twice, for AVX2 and for any x86-64 (or once elsewhere); the loader picks the one the
// processor runs.
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
size_t gb_find_pair(const uint8_t *bytes, size_t length, const uint16_t *pairs, size_t count) {
    if (length == 0) return 0;
    // Each position but the last starts a pair with the byte after it. Blocks of 64 are
    // tested with compares of whole vectors; only a block that hits is searched byte by byte.
    size_t starts = length - 1, i = 0;
    for (; i + 64 <= starts; i += 64) {
        gb_v32 a0 = *(const gb_v32 *)(bytes + i), b0 = *(const gb_v32 *)(bytes + i + 1);
        gb_v32 a1 = *(const gb_v32 *)(bytes + i + 32), b1 = *(const gb_v32 *)(bytes + i + 33);
        gb_v32 hit = {0};
        for (size_t k = 0; k < count; k++) {
            uint8_t first = (uint8_t)(pairs[k] >> 8), second = (uint8_t)pairs[k];
            hit |= (gb_v32)((a0 == first) & (b0 == second)) | (gb_v32)((a1 == first) & (b1 == second));
        }
        uint64_t lanes[4];
        __builtin_memcpy(lanes, &hit, sizeof lanes);
        if (lanes[0] | lanes[1] | lanes[2] | lanes[3]) break;
    }
    for (; i < starts; i++) {
        uint16_t pair = (uint16_t)(bytes[i] << 8 | bytes[i + 1]);
        for (size_t k = 0; k < count; k++) if (pairs[k] == pair) return i;
    }
    // The last byte: a pair's first byte may be completed by bytes not given.
    for (size_t k = 0; k < count; k++) if ((uint8_t)(pairs[k] >> 8) == bytes[starts]) return starts;
    return length;
}

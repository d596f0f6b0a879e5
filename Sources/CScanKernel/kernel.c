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

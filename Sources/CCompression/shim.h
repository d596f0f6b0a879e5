#include <zlib.h>
#include <lzma.h>
#include <bzlib.h>
#include <zstd.h>

// Macros Swift cannot import, as constants.
static const uint32_t glassbox_lzma_decoder_flags = LZMA_TELL_UNSUPPORTED_CHECK;
static inline int glassbox_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);   // gzip framing only, a 32 KiB window
}

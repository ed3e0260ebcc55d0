#ifndef CAPSKIT_CZLIB_SHIM_H
#define CAPSKIT_CZLIB_SHIM_H
#include <stddef.h>
#include <string.h>
#include <zlib.h>

/// Result of `capskit_inflate_exact`.
enum capskit_inflate_status {
  CAPSKIT_INFLATE_OK = 0,
  /// The stream is not valid zlib data (or libz failed to start).
  CAPSKIT_INFLATE_CORRUPT = 1,
  /// The stream ended before filling the output.
  CAPSKIT_INFLATE_SHORT = 2,
  /// The stream holds more than the output's size.
  CAPSKIT_INFLATE_LONG = 3,
};

/// Inflates the zlib stream `input[0..<input_count]` into exactly `output_count` bytes of `output`;
/// never writes past `output_count`. `produced` receives the bytes written.
static inline int capskit_inflate_exact(const unsigned char *input, size_t input_count,
                                        unsigned char *output, size_t output_count,
                                        size_t *produced) {
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  *produced = 0;
  if (inflateInit(&stream) != Z_OK) return CAPSKIT_INFLATE_CORRUPT;
  int status = CAPSKIT_INFLATE_OK;
  size_t consumed = 0;
  unsigned char spill;
  for (;;) {
    /* zlib counts in uInt: feed at most 1 GiB at a time. */
    if (stream.avail_in == 0 && consumed < input_count) {
      size_t chunk = input_count - consumed > (1u << 30) ? (1u << 30) : input_count - consumed;
      stream.next_in = (unsigned char *)input + consumed;
      stream.avail_in = (uInt)chunk;
      consumed += chunk;
    }
    if (stream.avail_out == 0) {
      if (*produced < output_count) {
        size_t chunk =
            output_count - *produced > (1u << 30) ? (1u << 30) : output_count - *produced;
        stream.next_out = output + *produced;
        stream.avail_out = (uInt)chunk;
      } else {
        /* Output full: one more byte would mean the stream is longer than expected. */
        stream.next_out = &spill;
        stream.avail_out = 1;
      }
    }
    size_t before = stream.avail_out;
    uInt input_before = stream.avail_in;
    unsigned char *target = stream.next_out;
    int result = inflate(&stream, Z_NO_FLUSH);
    size_t written = before - stream.avail_out;
    if (target == &spill) {
      if (written > 0) {
        status = CAPSKIT_INFLATE_LONG;
        break;
      }
    } else {
      *produced += written;
    }
    if (result == Z_STREAM_END) {
      status = *produced == output_count ? CAPSKIT_INFLATE_OK : CAPSKIT_INFLATE_SHORT;
      break;
    }
    if (written == 0 && stream.avail_in == input_before) {
      /* No progress: the input ran out (short) or zlib is stuck on bad data. */
      status = stream.avail_in == 0 && consumed == input_count ? CAPSKIT_INFLATE_SHORT
                                                               : CAPSKIT_INFLATE_CORRUPT;
      break;
    }
    if (result != Z_OK && result != Z_BUF_ERROR) {
      status = CAPSKIT_INFLATE_CORRUPT;
      break;
    }
  }
  inflateEnd(&stream);
  return status;
}
#endif

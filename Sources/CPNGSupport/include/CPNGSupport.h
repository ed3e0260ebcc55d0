// CPNGSupport: the only place in CapsKit that calls libpng.
//
// libpng reports errors with longjmp, which Swift cannot catch. Every libpng
// call therefore happens in this C target, under a setjmp established here,
// and errors come back as a status code plus a one-line message (without the
// file name, which the caller adds).

#ifndef CPNGSUPPORT_H
#define CPNGSUPPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes returned by every function of this API.
enum {
  CPS_PNG_OK = 0,
  /// The data does not start with the 8-byte PNG signature.
  CPS_PNG_ERR_NOT_PNG = 1,
  /// The data ends before the PNG stream is complete.
  CPS_PNG_ERR_TRUNCATED = 2,
  /// Malformed PNG: bad CRC, bad chunk, bad zlib stream, invalid IHDR, ...
  CPS_PNG_ERR_CORRUPT = 3,
  /// IHDR declares a width or height of zero.
  CPS_PNG_ERR_ZERO_SIZE = 4,
  /// IHDR declares dimensions above the caller's limits.
  CPS_PNG_ERR_TOO_LARGE = 5,
  /// Memory allocation failed.
  CPS_PNG_ERR_NO_MEMORY = 6,
  /// The arguments were invalid (null pointers, zero sizes, ...).
  CPS_PNG_ERR_INVALID_ARGUMENT = 7,
  /// read(2) failed on the file descriptor of a cps_png_source.
  CPS_PNG_ERR_READ = 8,
};

/// Recommended capacity of the message buffers passed to this API.
#define CPS_PNG_MESSAGE_CAPACITY 256

/// Limits checked against IHDR before any image memory is allocated.
typedef struct cps_png_limits {
  /// Largest accepted width in pixels (also passed to png_set_user_limits).
  uint32_t max_width;
  /// Largest accepted height in pixels (also passed to png_set_user_limits).
  uint32_t max_height;
  /// Largest accepted width * height.
  uint64_t max_pixels;
  /// Largest ancillary chunk libpng may allocate (png_set_chunk_malloc_max).
  uint32_t max_chunk_bytes;
} cps_png_limits;

/// The IHDR fields of a PNG stream.
typedef struct cps_png_header {
  uint32_t width;
  uint32_t height;
  /// 1, 2, 4, 8 or 16.
  uint8_t bit_depth;
  /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
  uint8_t color_type;
  /// 1 for Adam7 interlacing, 0 otherwise.
  uint8_t interlaced;
  /// 1 if a tRNS chunk precedes the image data.
  uint8_t has_trns;
} cps_png_header;

/// A decoded image, de-interlaced and expanded to 8 or 16 bits per sample.
///
/// Palette images become RGB, tRNS becomes an alpha channel, and gray images
/// of 1, 2 or 4 bits are scaled to 8 bits (x255, x85, x17). 16-bit samples
/// stay 16-bit, stored big-endian (two bytes per sample, high byte first).
typedef struct cps_png_image {
  cps_png_header header;
  /// 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
  uint32_t channels;
  /// 8 or 16.
  uint32_t sample_bits;
  /// Bytes per row of `pixels`.
  size_t row_bytes;
  /// height * row_bytes bytes, owned by the image; free with cps_png_image_free.
  uint8_t *pixels;
} cps_png_image;

/// A growable byte buffer owned by the caller; free with cps_png_buffer_free.
typedef struct cps_png_buffer {
  uint8_t *data;
  size_t size;
  size_t capacity;
} cps_png_buffer;

/// Where a PNG stream comes from: bytes in memory, or a file read sequentially.
typedef struct cps_png_source {
  /// The bytes, when `fd` is negative.
  const uint8_t *data;
  size_t size;
  /// An open file, read with read(2) from its current position in 64 KiB pieces (never whole), or
  /// -1. Reading stops at the end of the PNG stream (IEND): bytes after it are never read.
  int fd;
  /// With `fd`: the most bytes read before CPS_PNG_ERR_TOO_LARGE; 0 for no limit.
  uint64_t max_bytes;
} cps_png_source;

/// The decoded-sample layout of an image, known after the header: the expansion rules of
/// cps_png_image (palette to RGB, tRNS to alpha, low-bit gray to 8 bits; 16-bit samples
/// big-endian).
typedef struct cps_png_layout {
  cps_png_header header;
  /// 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
  uint32_t channels;
  /// 8 or 16.
  uint32_t sample_bits;
} cps_png_layout;

/// Receives an image row by row (cps_png_decode_rows). Both functions return CPS_PNG_OK to go on,
/// or another status, which stops decoding and is returned.
typedef struct cps_png_row_sink {
  void *context;
  /// Called once, after the header and before any row.
  int (*begin)(void *context, const cps_png_layout *layout);
  /// `count` pixels of `layout->channels` samples each, for the pixels x = x_start, x_start +
  /// x_step,
  /// ... of row y. Non-interlaced images: every row once, in order, x_start 0, x_step 1, count =
  /// width. Adam7 images: the rows of the 7 passes in file order (each pixel exactly once).
  /// `samples` is valid only during the call.
  int (*row)(void *context, uint32_t y, uint32_t x_start, uint32_t x_step, uint32_t count,
             const uint8_t *samples);
} cps_png_row_sink;

/// Decodes a PNG stream row by row into `sink`, holding one row of samples at a time (plus libpng's
/// own state). `layout` receives the header and sample layout (also on failure, as far as known).
int cps_png_decode_rows(const cps_png_source *source, const cps_png_limits *limits,
                        const cps_png_row_sink *sink, cps_png_layout *layout, char *message,
                        size_t message_capacity);

/// cps_png_read_header for any source (a file is read only up to the first IDAT chunk).
int cps_png_read_header_from(const cps_png_source *source, const cps_png_limits *limits,
                             cps_png_header *header, char *message, size_t message_capacity);

/// cps_png_decode for any source.
int cps_png_decode_from(const cps_png_source *source, const cps_png_limits *limits,
                        cps_png_image *image, char *message, size_t message_capacity);

/// Reads and validates the signature and the chunks before the image data,
/// and fills `header`. Checks zero sizes and `limits` before anything else.
int cps_png_read_header(const uint8_t *data, size_t size, const cps_png_limits *limits,
                        cps_png_header *header, char *message, size_t message_capacity);

/// Decodes a complete PNG stream held in memory into `image` (which must be
/// zero-initialised). On failure `image` holds no memory.
int cps_png_decode(const uint8_t *data, size_t size, const cps_png_limits *limits,
                   cps_png_image *image, char *message, size_t message_capacity);

/// Releases the pixels of an image filled by cps_png_decode (safe to repeat).
void cps_png_image_free(cps_png_image *image);

/// Encodes `width * height` 8-bit gray pixels (row-major) as a PNG into `out`
/// (which must be zero-initialised). `interlaced` selects Adam7.
int cps_png_encode_gray8(const uint8_t *pixels, uint32_t width, uint32_t height, int interlaced,
                         cps_png_buffer *out, char *message, size_t message_capacity);

/// Releases the memory of a buffer (safe to repeat).
void cps_png_buffer_free(cps_png_buffer *buffer);

#ifdef __cplusplus
}
#endif

#endif

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

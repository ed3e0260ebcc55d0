// libpng wrapper: every libpng call of CapsKit lives here, under setjmp.
//
// Pattern: each public function validates its arguments, creates the libpng
// structures, and calls a small "*_inner" function that establishes the
// setjmp and performs the libpng calls. The inner function only uses its
// (never modified) parameters after a longjmp, so no automatic variable is
// indeterminate; everything that must survive lives behind those pointers.

#include "CPNGSupport.h"

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

// PNG allows at most 2^31 - 1 for width and height.
#define PNG_DIMENSION_MAX 0x7fffffffu

// Bytes read from a file descriptor at a time.
#define CPS_WINDOW_BYTES 65536

// State shared with libpng's callbacks.
typedef struct cps_context {
  const uint8_t *data;  // reader input: the bytes not yet consumed are data[position..<size]
  size_t size;
  size_t position;
  cps_png_buffer *output;  // writer output
  int status;
  char *message;
  size_t message_capacity;
  // Reading from a file: `window` (CPS_WINDOW_BYTES) is refilled with read(2); `data` points at it.
  int fd;
  uint8_t *window;
  uint64_t consumed;   // bytes of the file before the current window
  uint64_t max_bytes;  // 0: no limit
  int at_end;          // read(2) returned 0
  // Decoding row by row: the caller's sink and one row of samples (freed by the caller of the
  // body).
  const cps_png_row_sink *sink;
  uint8_t *row;
} cps_context;

static int set_message(cps_context *ctx, int status, const char *format, ...) {
  if (ctx->status == CPS_PNG_OK) {
    ctx->status = status;
    if (ctx->message != NULL && ctx->message_capacity > 0) {
      va_list args;
      va_start(args, format);
      vsnprintf(ctx->message, ctx->message_capacity, format, args);
      va_end(args);
    }
  }
  return ctx->status;
}

static void on_error(png_structp png, png_const_charp text) {
  cps_context *ctx = (cps_context *)png_get_error_ptr(png);
  if (ctx != NULL) {
    const char *what = text != NULL ? text : "unknown libpng error";
    if (strstr(what, "ut of memory") != NULL || strstr(what, "nsufficient memory") != NULL) {
      set_message(ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory (%s)", what);
    } else if (ctx->output != NULL) {
      set_message(ctx, CPS_PNG_ERR_INVALID_ARGUMENT, "PNG encoding failed (%s)", what);
    } else {
      set_message(ctx, CPS_PNG_ERR_CORRUPT, "corrupt PNG (%s)", what);
    }
  }
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
  // Warnings (bad CRC in an ancillary chunk, odd sRGB profiles, ...) do not
  // affect the pixels we return; stay silent rather than print to stderr.
  (void)png;
  (void)text;
}

// Reads more of the file into the window; returns 0 at the end of the file, -1 after setting an
// error.
static int refill(cps_context *ctx) {
  if (ctx->fd < 0 || ctx->at_end) {
    return 0;
  }
  ctx->consumed += ctx->size;
  ctx->size = 0;
  ctx->position = 0;
  for (;;) {
    ssize_t count = read(ctx->fd, ctx->window, CPS_WINDOW_BYTES);
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count < 0) {
      set_message(ctx, CPS_PNG_ERR_READ, "read error (%s)", strerror(errno));
      return -1;
    }
    if (count == 0) {
      ctx->at_end = 1;
      return 0;
    }
    ctx->size = (size_t)count;
    if (ctx->max_bytes > 0 && ctx->consumed + ctx->size > ctx->max_bytes) {
      set_message(ctx, CPS_PNG_ERR_TOO_LARGE, "file too large (more than %llu bytes)",
                  (unsigned long long)ctx->max_bytes);
      return -1;
    }
    return 1;
  }
}

static void read_callback(png_structp png, png_bytep out, size_t length) {
  cps_context *ctx = (cps_context *)png_get_io_ptr(png);
  if (ctx == NULL) {
    png_error(png, "no reader context");
  }
  while (length > 0) {
    if (ctx->position == ctx->size) {
      int more = refill(ctx);
      if (more < 0) {
        png_error(png, "read failed");
      }
      if (more == 0) {
        set_message(ctx, CPS_PNG_ERR_TRUNCATED,
                    "truncated file (unexpected end of data at byte %llu)",
                    (unsigned long long)(ctx->consumed + ctx->size));
        png_error(png, "unexpected end of data");
      }
    }
    size_t available = ctx->size - ctx->position;
    size_t count = length < available ? length : available;
    memcpy(out, ctx->data + ctx->position, count);
    ctx->position += count;
    out += count;
    length -= count;
  }
}

static void write_callback(png_structp png, png_bytep bytes, size_t length) {
  cps_context *ctx = (cps_context *)png_get_io_ptr(png);
  cps_png_buffer *buffer = ctx->output;
  if (length > buffer->capacity - buffer->size) {
    size_t capacity = buffer->capacity < 4096 ? 4096 : buffer->capacity;
    while (capacity - buffer->size < length) {
      if (capacity > SIZE_MAX / 2) {
        capacity = 0;
        break;
      }
      capacity *= 2;
    }
    uint8_t *grown = capacity == 0 ? NULL : (uint8_t *)realloc(buffer->data, capacity);
    if (grown == NULL) {
      set_message(ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory while encoding PNG");
      png_error(png, "out of memory");
    }
    buffer->data = grown;
    buffer->capacity = capacity;
  }
  memcpy(buffer->data + buffer->size, bytes, length);
  buffer->size += length;
}

static void flush_callback(png_structp png) { (void)png; }

static uint32_t crc32_of(const uint8_t *bytes, size_t count) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < count; i++) {
    crc ^= bytes[i];
    for (int k = 0; k < 8; k++) {
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  }
  return crc ^ 0xffffffffu;
}

static uint32_t load_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

// Checks the signature and the IHDR chunk by hand, before libpng sees the
// data, so that zero and oversized dimensions are refused with a message that
// names them, and before anything is allocated.
static int peek_header(cps_context *ctx, const cps_png_limits *limits, cps_png_header *header) {
  static const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  const uint8_t *data = ctx->data;
  size_t size = ctx->size;
  if (size == 0) {
    return set_message(ctx, CPS_PNG_ERR_NOT_PNG, "not a PNG file (empty file)");
  }
  size_t compared = size < 8 ? size : 8;
  if (memcmp(data, signature, compared) != 0) {
    return set_message(ctx, CPS_PNG_ERR_NOT_PNG, "not a PNG file (bad signature)");
  }
  if (size < 8) {
    return set_message(ctx, CPS_PNG_ERR_TRUNCATED,
                       "truncated file (%zu bytes, inside the PNG signature)", size);
  }
  if (size < 33) {
    return set_message(ctx, CPS_PNG_ERR_TRUNCATED,
                       "truncated file (%zu bytes, inside the IHDR chunk)", size);
  }
  if (load_be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0) {
    return set_message(ctx, CPS_PNG_ERR_CORRUPT, "corrupt PNG (first chunk is not a 13-byte IHDR)");
  }
  if (crc32_of(data + 12, 17) != load_be32(data + 29)) {
    return set_message(ctx, CPS_PNG_ERR_CORRUPT, "corrupt PNG (IHDR: CRC error)");
  }
  uint32_t width = load_be32(data + 16);
  uint32_t height = load_be32(data + 20);
  if (width > PNG_DIMENSION_MAX || height > PNG_DIMENSION_MAX) {
    return set_message(ctx, CPS_PNG_ERR_CORRUPT,
                       "corrupt PNG (IHDR dimensions %ux%u exceed 2^31-1)", width, height);
  }
  if (width == 0 || height == 0) {
    return set_message(ctx, CPS_PNG_ERR_ZERO_SIZE,
                       "invalid image size %ux%u (width and height must be at least 1)", width,
                       height);
  }
  if (width > limits->max_width || height > limits->max_height ||
      (uint64_t)width * (uint64_t)height > limits->max_pixels) {
    return set_message(ctx, CPS_PNG_ERR_TOO_LARGE,
                       "image too large (%ux%u; limits are %ux%u and %llu pixels)", width, height,
                       limits->max_width, limits->max_height,
                       (unsigned long long)limits->max_pixels);
  }
  header->width = width;
  header->height = height;
  header->bit_depth = data[24];
  header->color_type = data[25];
  header->interlaced = data[28] == 1 ? 1 : 0;
  header->has_trns = 0;
  return CPS_PNG_OK;
}

static int check_limits(const cps_png_limits *limits, char *message, size_t message_capacity) {
  if (limits == NULL || limits->max_width == 0 || limits->max_height == 0 ||
      limits->max_pixels == 0) {
    if (message != NULL && message_capacity > 0) {
      snprintf(message, message_capacity, "invalid limits (all limits must be at least 1)");
    }
    return CPS_PNG_ERR_INVALID_ARGUMENT;
  }
  return CPS_PNG_OK;
}

static void configure_reader(png_structp png, cps_context *ctx, const cps_png_limits *limits) {
  uint32_t width_limit =
      limits->max_width > PNG_DIMENSION_MAX ? PNG_DIMENSION_MAX : limits->max_width;
  uint32_t height_limit =
      limits->max_height > PNG_DIMENSION_MAX ? PNG_DIMENSION_MAX : limits->max_height;
  png_set_user_limits(png, width_limit, height_limit);
  png_set_chunk_malloc_max(png, limits->max_chunk_bytes);
  png_set_chunk_cache_max(png, 1000);
  png_set_read_fn(png, ctx, read_callback);
}

static int read_header_inner(png_structp png, png_infop info, cps_context *ctx,
                             const cps_png_limits *limits, cps_png_header *header) {
  if (setjmp(png_jmpbuf(png))) {
    return ctx->status != CPS_PNG_OK ? ctx->status : CPS_PNG_ERR_CORRUPT;
  }
  configure_reader(png, ctx, limits);
  png_read_info(png, info);
  header->bit_depth = png_get_bit_depth(png, info);
  header->color_type = png_get_color_type(png, info);
  header->interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7 ? 1 : 0;
  header->has_trns = png_get_valid(png, info, PNG_INFO_tRNS) ? 1 : 0;
  return CPS_PNG_OK;
}

/// The reader bodies run inside setjmp with a fresh libpng reader; `out` is their typed result.
typedef int (*reader_body)(png_structp png, png_infop info, cps_context *ctx,
                           const cps_png_limits *limits, void *out);

// Reads the first bytes of a file into the window: at least the signature and IHDR (33 bytes),
// unless the file is shorter.
static int read_prefix(cps_context *ctx) {
  while (ctx->size < 33 && !ctx->at_end) {
    ssize_t count = read(ctx->fd, ctx->window + ctx->size, CPS_WINDOW_BYTES - ctx->size);
    if (count < 0 && errno == EINTR) {
      continue;
    }
    if (count < 0) {
      return set_message(ctx, CPS_PNG_ERR_READ, "read error (%s)", strerror(errno));
    }
    if (count == 0) {
      ctx->at_end = 1;
    }
    ctx->size += (size_t)count;
  }
  return CPS_PNG_OK;
}

/// Shared by the public entry points: checks the arguments and limits, peeks at the header
/// (into `header`) before libpng allocates anything, then runs `body` with a libpng reader.
static int run_reader(const cps_png_source *source, const cps_png_limits *limits,
                      cps_png_header *header, reader_body body, void *out,
                      const cps_png_row_sink *sink, char *message, size_t message_capacity) {
  if (message != NULL && message_capacity > 0) {
    message[0] = '\0';
  }
  if (source == NULL || (source->fd < 0 && source->data == NULL && source->size > 0) ||
      header == NULL || out == NULL) {
    if (message != NULL && message_capacity > 0) {
      snprintf(message, message_capacity, "invalid argument (null pointer)");
    }
    return CPS_PNG_ERR_INVALID_ARGUMENT;
  }
  int status = check_limits(limits, message, message_capacity);
  if (status != CPS_PNG_OK) {
    return status;
  }
  memset(header, 0, sizeof *header);
  cps_context ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.status = CPS_PNG_OK;
  ctx.message = message;
  ctx.message_capacity = message_capacity;
  ctx.fd = source->fd;
  ctx.max_bytes = source->max_bytes;
  ctx.sink = sink;
  if (source->fd >= 0) {
    ctx.window = (uint8_t *)malloc(CPS_WINDOW_BYTES);
    if (ctx.window == NULL) {
      return set_message(&ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory (read buffer)");
    }
    ctx.data = ctx.window;
    status = read_prefix(&ctx);
  } else {
    ctx.data = source->data;
    ctx.size = source->size;
  }
  if (status == CPS_PNG_OK) {
    status = peek_header(&ctx, limits, header);
  }
  if (status == CPS_PNG_OK) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png == NULL ? NULL : png_create_info_struct(png);
    if (png == NULL || info == NULL) {
      status =
          set_message(&ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory (cannot create libpng reader)");
    } else {
      status = body(png, info, &ctx, limits, out);
    }
    png_destroy_read_struct(&png, &info, NULL);
  }
  free(ctx.row);
  free(ctx.window);
  return status;
}

static int read_header_body(png_structp png, png_infop info, cps_context *ctx,
                            const cps_png_limits *limits, void *out) {
  return read_header_inner(png, info, ctx, limits, (cps_png_header *)out);
}

int cps_png_read_header_from(const cps_png_source *source, const cps_png_limits *limits,
                             cps_png_header *header, char *message, size_t message_capacity) {
  return run_reader(source, limits, header, read_header_body, header, NULL, message,
                    message_capacity);
}

int cps_png_read_header(const uint8_t *data, size_t size, const cps_png_limits *limits,
                        cps_png_header *header, char *message, size_t message_capacity) {
  cps_png_source source = {data, size, -1, 0};
  return cps_png_read_header_from(&source, limits, header, message, message_capacity);
}

// The message for a sink's refusal.
static int sink_failed(cps_context *ctx, int status, const cps_png_layout *layout) {
  unsigned width = layout->header.width;
  unsigned height = layout->header.height;
  switch (status) {
    case CPS_PNG_ERR_NO_MEMORY:
      return set_message(ctx, status, "out of memory (%ux%u image)", width, height);
    case CPS_PNG_ERR_TOO_LARGE:
      return set_message(ctx, status, "image too large (%ux%u)", width, height);
    default:
      return set_message(ctx, status, "decoding stopped by the caller");
  }
}

// Decodes row by row into ctx->sink. Without libpng's interlace handling, an Adam7 image arrives
// as its passes' reduced rows, each handed over with its place in the image, so no whole image is
// ever held here.
static int decode_rows_inner(png_structp png, png_infop info, cps_context *ctx,
                             const cps_png_limits *limits, cps_png_layout *layout) {
  if (setjmp(png_jmpbuf(png))) {
    return ctx->status != CPS_PNG_OK ? ctx->status : CPS_PNG_ERR_CORRUPT;
  }
  configure_reader(png, ctx, limits);
  png_read_info(png, info);

  uint32_t width = png_get_image_width(png, info);
  uint32_t height = png_get_image_height(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  int color_type = png_get_color_type(png, info);
  if (width != layout->header.width || height != layout->header.height) {
    return set_message(ctx, CPS_PNG_ERR_CORRUPT, "corrupt PNG (inconsistent IHDR)");
  }
  layout->header.bit_depth = (uint8_t)bit_depth;
  layout->header.color_type = (uint8_t)color_type;
  layout->header.interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7 ? 1 : 0;
  layout->header.has_trns = png_get_valid(png, info, PNG_INFO_tRNS) ? 1 : 0;

  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
  }
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (layout->header.has_trns) {
    png_set_tRNS_to_alpha(png);
  }
  png_read_update_info(png, info);

  uint32_t channels = png_get_channels(png, info);
  uint32_t sample_bits = png_get_bit_depth(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (channels < 1 || channels > 4 || (sample_bits != 8 && sample_bits != 16) ||
      row_bytes != (size_t)width * channels * (sample_bits / 8)) {
    return set_message(ctx, CPS_PNG_ERR_CORRUPT,
                       "corrupt PNG (unsupported pixel layout after expansion)");
  }
  layout->channels = channels;
  layout->sample_bits = sample_bits;
  ctx->row = (uint8_t *)malloc(row_bytes);
  if (ctx->row == NULL) {
    return set_message(ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory (one %ux%u row)", width,
                       channels);
  }
  const cps_png_row_sink *sink = ctx->sink;
  int status = sink->begin(sink->context, layout);
  if (status != CPS_PNG_OK) {
    return sink_failed(ctx, status, layout);
  }
  if (layout->header.interlaced) {
    for (int pass = 0; pass < 7; pass++) {
      uint32_t columns = PNG_PASS_COLS(width, pass);
      uint32_t rows = PNG_PASS_ROWS(height, pass);
      if (columns == 0 || rows == 0) {
        continue;
      }
      for (uint32_t r = 0; r < rows; r++) {
        png_read_row(png, ctx->row, NULL);
        status = sink->row(sink->context, PNG_ROW_FROM_PASS_ROW(r, pass), PNG_PASS_START_COL(pass),
                           1u << PNG_PASS_COL_SHIFT(pass), columns, ctx->row);
        if (status != CPS_PNG_OK) {
          return sink_failed(ctx, status, layout);
        }
      }
    }
  } else {
    for (uint32_t y = 0; y < height; y++) {
      png_read_row(png, ctx->row, NULL);
      status = sink->row(sink->context, y, 0, 1, width, ctx->row);
      if (status != CPS_PNG_OK) {
        return sink_failed(ctx, status, layout);
      }
    }
  }
  png_read_end(png, NULL);
  return CPS_PNG_OK;
}

static int decode_rows_body(png_structp png, png_infop info, cps_context *ctx,
                            const cps_png_limits *limits, void *out) {
  return decode_rows_inner(png, info, ctx, limits, (cps_png_layout *)out);
}

int cps_png_decode_rows(const cps_png_source *source, const cps_png_limits *limits,
                        const cps_png_row_sink *sink, cps_png_layout *layout, char *message,
                        size_t message_capacity) {
  if (layout != NULL) {
    memset(layout, 0, sizeof *layout);
  }
  if (sink == NULL || sink->begin == NULL || sink->row == NULL) {
    if (message != NULL && message_capacity > 0) {
      snprintf(message, message_capacity, "invalid argument (null pointer)");
    }
    return CPS_PNG_ERR_INVALID_ARGUMENT;
  }
  return run_reader(source, limits, layout == NULL ? NULL : &layout->header, decode_rows_body,
                    layout, sink, message, message_capacity);
}

// The whole-image decoder is a row sink that places each (pass) row in one buffer.
static int image_begin(void *context, const cps_png_layout *layout) {
  cps_png_image *image = (cps_png_image *)context;
  size_t row_bytes = (size_t)layout->header.width * layout->channels * (layout->sample_bits / 8);
  if (layout->header.height > SIZE_MAX / row_bytes) {
    return CPS_PNG_ERR_TOO_LARGE;
  }
  // Zero-filled so that interlace passes combine into a defined buffer.
  image->pixels = (uint8_t *)calloc(layout->header.height, row_bytes);
  if (image->pixels == NULL) {
    return CPS_PNG_ERR_NO_MEMORY;
  }
  image->header = layout->header;
  image->channels = layout->channels;
  image->sample_bits = layout->sample_bits;
  image->row_bytes = row_bytes;
  return CPS_PNG_OK;
}

static int image_row(void *context, uint32_t y, uint32_t x_start, uint32_t x_step, uint32_t count,
                     const uint8_t *samples) {
  cps_png_image *image = (cps_png_image *)context;
  size_t pixel_bytes = (size_t)image->channels * (image->sample_bits / 8);
  uint8_t *row = image->pixels + (size_t)y * image->row_bytes;
  if (x_step == 1) {
    memcpy(row + (size_t)x_start * pixel_bytes, samples, (size_t)count * pixel_bytes);
  } else {
    for (uint32_t i = 0; i < count; i++) {
      memcpy(row + ((size_t)x_start + (size_t)i * x_step) * pixel_bytes,
             samples + (size_t)i * pixel_bytes, pixel_bytes);
    }
  }
  return CPS_PNG_OK;
}

int cps_png_decode_from(const cps_png_source *source, const cps_png_limits *limits,
                        cps_png_image *image, char *message, size_t message_capacity) {
  if (image == NULL) {
    if (message != NULL && message_capacity > 0) {
      snprintf(message, message_capacity, "invalid argument (null pointer)");
    }
    return CPS_PNG_ERR_INVALID_ARGUMENT;
  }
  memset(image, 0, sizeof *image);
  cps_png_row_sink sink = {image, image_begin, image_row};
  cps_png_layout layout;
  int status = cps_png_decode_rows(source, limits, &sink, &layout, message, message_capacity);
  if (status == CPS_PNG_OK) {
    image->header = layout.header;
  } else {
    cps_png_image_free(image);
  }
  return status;
}

int cps_png_decode(const uint8_t *data, size_t size, const cps_png_limits *limits,
                   cps_png_image *image, char *message, size_t message_capacity) {
  cps_png_source source = {data, size, -1, 0};
  return cps_png_decode_from(&source, limits, image, message, message_capacity);
}

void cps_png_image_free(cps_png_image *image) {
  if (image != NULL) {
    free(image->pixels);
    image->pixels = NULL;
    image->row_bytes = 0;
  }
}

static int encode_inner(png_structp png, png_infop info, cps_context *ctx, const uint8_t *pixels,
                        uint32_t width, uint32_t height, int interlaced) {
  if (setjmp(png_jmpbuf(png))) {
    return ctx->status != CPS_PNG_OK ? ctx->status : CPS_PNG_ERR_CORRUPT;
  }
  png_set_write_fn(png, ctx, write_callback, flush_callback);
  png_set_user_limits(png, PNG_DIMENSION_MAX, PNG_DIMENSION_MAX);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  int passes = png_set_interlace_handling(png);
  for (int pass = 0; pass < passes; pass++) {
    for (uint32_t y = 0; y < height; y++) {
      png_write_row(png, pixels + (size_t)y * width);
    }
  }
  png_write_end(png, info);
  return CPS_PNG_OK;
}

int cps_png_encode_gray8(const uint8_t *pixels, uint32_t width, uint32_t height, int interlaced,
                         cps_png_buffer *out, char *message, size_t message_capacity) {
  if (message != NULL && message_capacity > 0) {
    message[0] = '\0';
  }
  if (pixels == NULL || out == NULL) {
    if (message != NULL && message_capacity > 0) {
      snprintf(message, message_capacity, "invalid argument (null pointer)");
    }
    return CPS_PNG_ERR_INVALID_ARGUMENT;
  }
  memset(out, 0, sizeof *out);
  cps_context ctx = {NULL, 0, 0, out, CPS_PNG_OK, message, message_capacity};
  if (width == 0 || height == 0) {
    return set_message(&ctx, CPS_PNG_ERR_ZERO_SIZE,
                       "invalid image size %ux%u (width and height must be at least 1)", width,
                       height);
  }
  if (width > PNG_DIMENSION_MAX || height > PNG_DIMENSION_MAX) {
    return set_message(&ctx, CPS_PNG_ERR_TOO_LARGE, "image too large for PNG (%ux%u)", width,
                       height);
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = png == NULL ? NULL : png_create_info_struct(png);
  if (png == NULL || info == NULL) {
    png_destroy_write_struct(&png, &info);
    return set_message(&ctx, CPS_PNG_ERR_NO_MEMORY, "out of memory (cannot create libpng writer)");
  }
  int status = encode_inner(png, info, &ctx, pixels, width, height, interlaced);
  png_destroy_write_struct(&png, &info);
  if (status != CPS_PNG_OK) {
    cps_png_buffer_free(out);
  }
  return status;
}

void cps_png_buffer_free(cps_png_buffer *buffer) {
  if (buffer != NULL) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
    buffer->capacity = 0;
  }
}

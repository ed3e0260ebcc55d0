#ifndef CAPS_SHA256_H
#define CAPS_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// Incremental SHA-256 (FIPS 180-4). In C so that hashing a large checkpoint is fast even in
/// unoptimised (debug) builds.
typedef struct {
  uint32_t state[8];
  uint64_t byte_count;
  uint8_t pending[64];
  size_t pending_count;
} caps_sha256_context;

void caps_sha256_init(caps_sha256_context *context);
void caps_sha256_update(caps_sha256_context *context, const void *bytes, size_t count);
/// Writes the 32-byte digest.
void caps_sha256_final(caps_sha256_context *context, uint8_t digest[32]);

#endif

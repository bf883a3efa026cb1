/* COBS (Consistent Overhead Byte Stuffing, Cheshire & Baker 1999): removes every 0x00 from a
 * frame so that 0x00 can delimit frames on the wire. Overhead: 1 byte per started 254 bytes.
 * A receiver that loses sync drops bytes until the next 0x00 and is back in step. */
#ifndef BRIDGE_COBS_H
#define BRIDGE_COBS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Worst-case encoded size of `n` raw bytes (without the 0x00 delimiter). */
#define BRIDGE_COBS_MAX_ENCODED(n) ((n) + ((n) / 254u) + 1u)

/* Encode `len` bytes of `in` into `out` (capacity `cap`). Returns the encoded length,
 * or 0 if `out` is too small. The result never contains 0x00. */
size_t bridge_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Decode `len` bytes of `in` (no delimiter) into `out` (capacity `cap`). Returns the
 * decoded length, or -1 if the input is malformed (a 0x00 inside, or a code byte that
 * points past the end) or `out` is too small. `out` may equal `in` (decoding shrinks). */
long bridge_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif

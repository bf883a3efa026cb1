#include "bridge_cobs.h"

size_t bridge_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t read = 0, write = 1, code_at = 0;
    uint8_t code = 1; /* 1 + number of non-zero bytes in the current block */

    if (cap < BRIDGE_COBS_MAX_ENCODED(len))
        return 0;
    while (read < len) {
        if (in[read] == 0) {
            out[code_at] = code; /* the zero is implied by a code < 0xFF */
            code_at = write++;
            code = 1;
        } else {
            out[write++] = in[read];
            if (++code == 0xFF && read + 1 < len) {
                out[code_at] = code; /* full 254-byte block: no implied zero */
                code_at = write++;
                code = 1;
            }
        }
        read++;
    }
    out[code_at] = code;
    return write;
}

long bridge_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t read = 0, write = 0;

    while (read < len) {
        uint8_t code = in[read++];
        uint8_t i;
        if (code == 0 || read + (size_t)(code - 1) > len)
            return -1;
        for (i = 1; i < code; i++) {
            if (in[read] == 0 || write >= cap)
                return -1;
            out[write++] = in[read++];
        }
        /* A block shorter than 254 bytes stands for "data, then a zero" unless it is the last. */
        if (code != 0xFF && read < len) {
            if (write >= cap)
                return -1;
            out[write++] = 0;
        }
    }
    return (long)write;
}

/* CRC-32C (Castagnoli), the frame check of the bridge protocol.
 *
 * Parameters (Rocksoft/Williams model, as in PROTOCOL.md):
 *   width 32, poly 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF,
 *   refin true, refout true, xorout 0xFFFFFFFF, check("123456789") = 0xE3069283.
 * It is the CRC of iSCSI, ext4 and SCTP; hardware has instructions for it.
 */
#ifndef BRIDGE_CRC32C_H
#define BRIDGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRIDGE_CRC32C_CHECK 0xE3069283u

/* CRC of `len` bytes. To continue a running CRC pass the previous result as `crc`
 * (start with 0): bridge_crc32c(b, n, bridge_crc32c(a, m, 0)) == CRC of a||b. */
uint32_t bridge_crc32c(const uint8_t *data, size_t len, uint32_t crc);

#ifdef __cplusplus
}
#endif

#endif

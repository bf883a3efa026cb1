/* The firmware core: handshake, command handling, the command watchdog, heartbeats and STATE.
 * Portable C99, no dynamic allocation, no clock or I/O of its own (see bridge_hal.h).
 *
 *   bridge_fw_init(&fw, &cfg, &hal, boot_id, now_us);   once per boot
 *   bridge_fw_rx(&fw, bytes, n, now_us);                for every chunk received
 *   bridge_fw_tick(&fw, now_us);                        once per control period
 *
 * Safety rule: the actuators move only while the last valid COMMAND is inside its validity
 * window. bridge_fw_tick() stops them by itself when the window has passed, so the worst-case
 * stop time after the host goes silent is valid_ms + one control period.
 *
 * Sequence window (PROTOCOL.md §6): within a host session, a COMMAND or RESUME whose seq is not
 * newer (RFC 1982 serial arithmetic over 16 bits) than the newest host frame already handled is
 * a duplicate or a replay: it is ignored and counted in stale_frames. HELLO or a reset starts a
 * new window; a HELLO that repeats a recent session's nonce with an old seq is ignored too.
 */
#ifndef BRIDGE_FIRMWARE_H
#define BRIDGE_FIRMWARE_H

#include <stdint.h>

#include "bridge_hal.h"
#include "bridge_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRIDGE_NONCE_HISTORY 4u /* HELLO nonces remembered, to tell a replayed HELLO from a new one */

/* RFC 1982 serial-number order on 16 bits: 1 when `a` is newer than `b`, i.e. (int16_t)(a - b) > 0. */
#define BRIDGE_SEQ_NEWER(a, b) ((uint16_t)((uint16_t)(a) - (uint16_t)(b)) != 0u && \
                                (uint16_t)((uint16_t)(a) - (uint16_t)(b)) < 0x8000u)

typedef struct {
    uint8_t n_actuators;              /* 1..BRIDGE_MAX_ACTUATORS */
    uint32_t control_period_us;       /* how often the caller runs bridge_fw_tick() */
    uint16_t max_valid_ms;            /* longest validity window a COMMAND may ask for */
    uint16_t heartbeat_period_ms;     /* firmware HEARTBEAT period (also announces a reboot) */
    uint16_t state_period_ms;         /* STATE period when HELLO asks for 0 (= default) */
    char firmware_id[BRIDGE_FIRMWARE_ID_LEN];
} bridge_fw_config_t;

typedef struct {
    bridge_fw_config_t cfg;
    bridge_hal_t hal;
    bridge_decoder_t dec;
    uint32_t boot_id;
    uint64_t boot_us;
    uint16_t tx_seq;
    uint8_t status;                   /* BRIDGE_STATUS_* */
    uint16_t state_period_ms;         /* negotiated in HELLO */
    uint16_t last_cmd_seq;
    uint64_t cmd_rx_us, cmd_deadline_us;
    uint64_t next_heartbeat_us, next_state_us;
    uint32_t rx_ok, rx_bad;           /* frames handled / frames rejected (CRC, COBS, ...) */
    uint32_t watchdog_stops;
    uint16_t rx_window_seq;           /* newest host seq handled in this session (valid while CONNECTED) */
    uint8_t n_nonces;
    uint32_t nonces[BRIDGE_NONCE_HISTORY]; /* HELLO nonces of this and earlier sessions, newest first */
    uint32_t stale_frames;            /* COMMAND/RESUME/HELLO ignored as duplicates or replays */
} bridge_fw_t;

void bridge_fw_init(bridge_fw_t *fw, const bridge_fw_config_t *cfg, const bridge_hal_t *hal,
                    uint32_t boot_id, uint64_t now_us);
void bridge_fw_rx(bridge_fw_t *fw, const uint8_t *data, size_t len, uint64_t now_us);
void bridge_fw_tick(bridge_fw_t *fw, uint64_t now_us);

#ifdef __cplusplus
}
#endif

#endif

/* The bridge wire protocol (PROTOCOL.md): messages, frame encoding and the byte-wise decoder.
 *
 * Frame on the wire:  COBS( header(6) | payload(0..120) | crc32c(4, LE) )  0x00
 * header:             version_major u8 | version_minor u8 | type u8 | flags u8 | seq u16 LE
 * All multi-byte fields are little-endian; floats are IEEE-754 binary32.
 * No dynamic allocation anywhere; everything fits in caller-provided structs.
 */
#ifndef BRIDGE_PROTO_H
#define BRIDGE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Overridable only so the tests can build a "future" firmware (make sim-v2) and check that a
 * major-version mismatch is refused. Real firmware never sets these. */
#ifndef BRIDGE_PROTO_MAJOR
#define BRIDGE_PROTO_MAJOR 1u
#endif
#ifndef BRIDGE_PROTO_MINOR
#define BRIDGE_PROTO_MINOR 0u
#endif

#define BRIDGE_HEADER_LEN 6u
#define BRIDGE_CRC_LEN 4u
#define BRIDGE_MAX_PAYLOAD 120u
#define BRIDGE_MAX_RAW (BRIDGE_HEADER_LEN + BRIDGE_MAX_PAYLOAD + BRIDGE_CRC_LEN)  /* 130 */
#define BRIDGE_MAX_ENCODED (BRIDGE_MAX_RAW + 1u)                                   /* 131: COBS adds 1 below 254 */
#define BRIDGE_MAX_WIRE (BRIDGE_MAX_ENCODED + 1u)                                  /* + the 0x00 delimiter */
#define BRIDGE_MAX_ACTUATORS 8u
#define BRIDGE_FIRMWARE_ID_LEN 16u

/* Message types. Host -> firmware: HELLO HEARTBEAT COMMAND ESTOP RESUME.
 * Firmware -> host: HELLO_ACK HEARTBEAT STATE ACK NACK FAULT. */
enum bridge_type {
    BRIDGE_HELLO = 0x01,
    BRIDGE_HELLO_ACK = 0x02,
    BRIDGE_HEARTBEAT = 0x03,
    BRIDGE_COMMAND = 0x10,
    BRIDGE_STATE = 0x11,
    BRIDGE_ESTOP = 0x12,
    BRIDGE_RESUME = 0x13,
    BRIDGE_ACK = 0x20,
    BRIDGE_NACK = 0x21,
    BRIDGE_FAULT = 0x30
};

/* Header flags. Unknown bits are ignored by receivers. */
#define BRIDGE_FLAG_ACK_REQ 0x01u /* receiver answers ACK (or NACK) with this frame's seq */

/* Firmware status bits (HELLO_ACK, HEARTBEAT, STATE). */
#define BRIDGE_STATUS_CONNECTED 0x01u /* a host completed HELLO since boot */
#define BRIDGE_STATUS_ACTIVE 0x02u    /* a valid COMMAND is being applied */
#define BRIDGE_STATUS_WATCHDOG 0x04u  /* stopped because the last COMMAND expired */
#define BRIDGE_STATUS_ESTOP 0x08u     /* stopped by ESTOP; latched until RESUME or reset */

enum bridge_nack_reason {
    BRIDGE_NACK_VERSION = 1,       /* major version differs; detail = firmware major<<8 | minor */
    BRIDGE_NACK_UNKNOWN_TYPE = 2,  /* detail = the type byte */
    BRIDGE_NACK_BAD_PAYLOAD = 3,   /* payload length wrong for the type; detail = length */
    BRIDGE_NACK_NOT_CONNECTED = 4, /* COMMAND/ESTOP/RESUME before HELLO (e.g. after a reset) */
    BRIDGE_NACK_BAD_VALUE = 5,     /* action not finite or outside [-1, 1]; detail = index */
    BRIDGE_NACK_BAD_VALIDITY = 6,  /* valid_ms == 0 or > max_valid_ms; detail = max_valid_ms */
    BRIDGE_NACK_BAD_DIMENSION = 7, /* action count != actuator count; detail = actuator count */
    BRIDGE_NACK_ESTOPPED = 8,      /* COMMAND while ESTOP is latched */
    BRIDGE_NACK_UNEXPECTED = 9     /* a type this peer never receives (e.g. STATE sent to firmware) */
};

enum bridge_fault_code {
    BRIDGE_FAULT_WATCHDOG = 1, /* COMMAND expired: actuators stopped; detail = us since it arrived */
    BRIDGE_FAULT_ESTOP = 2,    /* ESTOP received: actuators stopped; detail = ESTOP reason */
    BRIDGE_FAULT_ACTUATOR = 3  /* the HAL reported an actuator fault; detail = HAL code */
};

typedef struct {
    uint8_t major, minor, type, flags;
    uint16_t seq;
} bridge_header_t;

typedef struct { uint32_t nonce; uint16_t state_period_ms; } bridge_hello_t;
typedef struct {
    uint32_t nonce, boot_id;
    uint8_t n_actuators;
    uint32_t control_period_us;
    uint16_t max_valid_ms;
    uint8_t status;
    char firmware_id[BRIDGE_FIRMWARE_ID_LEN]; /* ASCII, NUL-padded, not necessarily terminated */
} bridge_hello_ack_t;
typedef struct { uint32_t uptime_ms, boot_id; uint8_t status; uint32_t rx_ok, rx_bad; } bridge_heartbeat_t;
typedef struct { uint16_t valid_ms; uint8_t n; float actions[BRIDGE_MAX_ACTUATORS]; } bridge_command_t;
typedef struct {
    uint64_t fw_time_us;
    uint8_t status;
    uint16_t last_cmd_seq;
    uint8_t n;
    float positions[BRIDGE_MAX_ACTUATORS];
    float velocities[BRIDGE_MAX_ACTUATORS];
} bridge_state_t;
typedef struct { uint8_t reason; } bridge_estop_t;
typedef struct { uint16_t acked_seq; uint8_t acked_type; } bridge_ack_t;
typedef struct { uint16_t nacked_seq; uint8_t nacked_type, reason; uint16_t detail; } bridge_nack_t;
typedef struct { uint8_t code; uint32_t detail; } bridge_fault_t;

typedef struct {
    bridge_header_t hdr;
    union {
        bridge_hello_t hello;
        bridge_hello_ack_t hello_ack;
        bridge_heartbeat_t heartbeat;
        bridge_command_t command;
        bridge_state_t state;
        bridge_estop_t estop;
        bridge_ack_t ack;
        bridge_nack_t nack;
        bridge_fault_t fault;
    } u;
} bridge_msg_t;

/* Results of decoding; the names match the Python decoder's error kinds. */
enum bridge_result {
    BRIDGE_OK = 0,
    BRIDGE_NONE = 1,              /* byte consumed, no frame complete yet */
    BRIDGE_ERR_TOO_LONG = -1,     /* "too_long": more than BRIDGE_MAX_ENCODED bytes before a 0x00 */
    BRIDGE_ERR_COBS = -2,         /* "cobs": malformed COBS */
    BRIDGE_ERR_TOO_SHORT = -3,    /* "too_short": fewer than header + CRC bytes */
    BRIDGE_ERR_CRC = -4,          /* "crc": CRC-32C mismatch */
    BRIDGE_ERR_VERSION = -5,      /* "version": major version differs (header is still valid) */
    BRIDGE_ERR_UNKNOWN_TYPE = -6, /* "unknown_type" */
    BRIDGE_ERR_BAD_PAYLOAD = -7   /* "bad_payload": length wrong for the type */
};

const char *bridge_result_name(int result);
const char *bridge_type_name(uint8_t type);

/* Encode a complete wire frame (COBS + trailing 0x00) for `msg` (its header included).
 * Returns the number of bytes written to `out` (capacity >= BRIDGE_MAX_WIRE), or 0 if the
 * message cannot be encoded (unknown type, too many actuators). */
size_t bridge_encode(const bridge_msg_t *msg, uint8_t *out, size_t cap);

/* Parse a de-stuffed, CRC-checked frame body (header + payload, CRC removed). */
int bridge_parse(const uint8_t *raw, size_t len, bridge_msg_t *out);

/* Byte-wise decoder. Feed every received byte to bridge_decoder_push(); it returns
 * BRIDGE_NONE until a delimiter completes a frame, then BRIDGE_OK with *out filled, or an
 * error. After any error it is already back in sync: the next frame starts after this 0x00. */
typedef struct {
    uint8_t buf[BRIDGE_MAX_ENCODED];
    uint16_t len;
    uint8_t overflow;
    uint8_t last_raw_len;              /* length of the last good frame body (header+payload) */
    uint8_t last_raw[BRIDGE_MAX_RAW];  /* its bytes, for tests and logging */
    uint32_t frames_ok, errors;
} bridge_decoder_t;

void bridge_decoder_init(bridge_decoder_t *d);
int bridge_decoder_push(bridge_decoder_t *d, uint8_t byte, bridge_msg_t *out);

#ifdef __cplusplus
}
#endif

#endif

#include "bridge_proto.h"

#include <string.h>

#include "bridge_cobs.h"
#include "bridge_crc32c.h"

/* ---- little-endian field access, independent of the CPU's byte order ---- */

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static void put_u64(uint8_t *p, uint64_t v) { put_u32(p, (uint32_t)v); put_u32(p + 4, (uint32_t)(v >> 32)); }
static void put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v); /* binary32 assumed (PROTOCOL.md); byte order fixed by put_u32 */
    put_u32(p, v);
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32); }
static float get_f32(const uint8_t *p)
{
    uint32_t v = get_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

const char *bridge_result_name(int result)
{
    switch (result) {
    case BRIDGE_OK: return "ok";
    case BRIDGE_NONE: return "none";
    case BRIDGE_ERR_TOO_LONG: return "too_long";
    case BRIDGE_ERR_COBS: return "cobs";
    case BRIDGE_ERR_TOO_SHORT: return "too_short";
    case BRIDGE_ERR_CRC: return "crc";
    case BRIDGE_ERR_VERSION: return "version";
    case BRIDGE_ERR_UNKNOWN_TYPE: return "unknown_type";
    case BRIDGE_ERR_BAD_PAYLOAD: return "bad_payload";
    default: return "?";
    }
}

const char *bridge_type_name(uint8_t type)
{
    switch (type) {
    case BRIDGE_HELLO: return "HELLO";
    case BRIDGE_HELLO_ACK: return "HELLO_ACK";
    case BRIDGE_HEARTBEAT: return "HEARTBEAT";
    case BRIDGE_COMMAND: return "COMMAND";
    case BRIDGE_STATE: return "STATE";
    case BRIDGE_ESTOP: return "ESTOP";
    case BRIDGE_RESUME: return "RESUME";
    case BRIDGE_ACK: return "ACK";
    case BRIDGE_NACK: return "NACK";
    case BRIDGE_FAULT: return "FAULT";
    default: return 0;
    }
}

/* Payload of `msg` into `p`; returns its length, or -1 if it cannot be encoded. */
static int pack_payload(const bridge_msg_t *msg, uint8_t *p)
{
    uint8_t i;
    switch (msg->hdr.type) {
    case BRIDGE_HELLO:
        put_u32(p, msg->u.hello.nonce);
        put_u16(p + 4, msg->u.hello.state_period_ms);
        return 6;
    case BRIDGE_HELLO_ACK: {
        const bridge_hello_ack_t *m = &msg->u.hello_ack;
        put_u32(p, m->nonce);
        put_u32(p + 4, m->boot_id);
        p[8] = m->n_actuators;
        put_u32(p + 9, m->control_period_us);
        put_u16(p + 13, m->max_valid_ms);
        p[15] = m->status;
        memcpy(p + 16, m->firmware_id, BRIDGE_FIRMWARE_ID_LEN);
        return 32;
    }
    case BRIDGE_HEARTBEAT: {
        const bridge_heartbeat_t *m = &msg->u.heartbeat;
        put_u32(p, m->uptime_ms);
        put_u32(p + 4, m->boot_id);
        p[8] = m->status;
        put_u32(p + 9, m->rx_ok);
        put_u32(p + 13, m->rx_bad);
        return 17;
    }
    case BRIDGE_COMMAND: {
        const bridge_command_t *m = &msg->u.command;
        if (m->n == 0 || m->n > BRIDGE_MAX_ACTUATORS)
            return -1;
        put_u16(p, m->valid_ms);
        p[2] = m->n;
        for (i = 0; i < m->n; i++)
            put_f32(p + 3 + 4 * i, m->actions[i]);
        return 3 + 4 * m->n;
    }
    case BRIDGE_STATE: {
        const bridge_state_t *m = &msg->u.state;
        if (m->n > BRIDGE_MAX_ACTUATORS)
            return -1;
        put_u64(p, m->fw_time_us);
        p[8] = m->status;
        put_u16(p + 9, m->last_cmd_seq);
        p[11] = m->n;
        for (i = 0; i < m->n; i++) {
            put_f32(p + 12 + 8 * i, m->positions[i]);
            put_f32(p + 16 + 8 * i, m->velocities[i]);
        }
        return 12 + 8 * m->n;
    }
    case BRIDGE_ESTOP:
        p[0] = msg->u.estop.reason;
        return 1;
    case BRIDGE_RESUME:
        return 0;
    case BRIDGE_ACK:
        put_u16(p, msg->u.ack.acked_seq);
        p[2] = msg->u.ack.acked_type;
        return 3;
    case BRIDGE_NACK:
        put_u16(p, msg->u.nack.nacked_seq);
        p[2] = msg->u.nack.nacked_type;
        p[3] = msg->u.nack.reason;
        put_u16(p + 4, msg->u.nack.detail);
        return 6;
    case BRIDGE_FAULT:
        p[0] = msg->u.fault.code;
        put_u32(p + 1, msg->u.fault.detail);
        return 5;
    default:
        return -1;
    }
}

size_t bridge_encode(const bridge_msg_t *msg, uint8_t *out, size_t cap)
{
    uint8_t raw[BRIDGE_MAX_RAW];
    int plen;
    size_t n, enc;

    if (cap < BRIDGE_MAX_WIRE)
        return 0;
    raw[0] = msg->hdr.major;
    raw[1] = msg->hdr.minor;
    raw[2] = msg->hdr.type;
    raw[3] = msg->hdr.flags;
    put_u16(raw + 4, msg->hdr.seq);
    plen = pack_payload(msg, raw + BRIDGE_HEADER_LEN);
    if (plen < 0)
        return 0;
    n = BRIDGE_HEADER_LEN + (size_t)plen;
    put_u32(raw + n, bridge_crc32c(raw, n, 0));
    n += BRIDGE_CRC_LEN;
    enc = bridge_cobs_encode(raw, n, out, cap - 1);
    if (enc == 0)
        return 0;
    out[enc] = 0x00;
    return enc + 1;
}

/* Fixed payload length of a type (for COMMAND/STATE: of `n` actuators), or -1 if unknown. */
static int expected_len(uint8_t type, const uint8_t *p, size_t len)
{
    uint8_t n;
    switch (type) {
    case BRIDGE_HELLO: return 6;
    case BRIDGE_HELLO_ACK: return 32;
    case BRIDGE_HEARTBEAT: return 17;
    case BRIDGE_COMMAND:
        if (len < 3) return 3;
        n = p[2];
        return (n == 0 || n > BRIDGE_MAX_ACTUATORS) ? 0x7FFF : 3 + 4 * n;
    case BRIDGE_STATE:
        if (len < 12) return 12;
        n = p[11];
        return n > BRIDGE_MAX_ACTUATORS ? 0x7FFF : 12 + 8 * n;
    case BRIDGE_ESTOP: return 1;
    case BRIDGE_RESUME: return 0;
    case BRIDGE_ACK: return 3;
    case BRIDGE_NACK: return 6;
    case BRIDGE_FAULT: return 5;
    default: return -1;
    }
}

int bridge_parse(const uint8_t *raw, size_t len, bridge_msg_t *out)
{
    const uint8_t *p = raw + BRIDGE_HEADER_LEN;
    size_t plen;
    int want;
    uint8_t i;

    if (len < BRIDGE_HEADER_LEN)
        return BRIDGE_ERR_TOO_SHORT;
    memset(out, 0, sizeof *out);
    out->hdr.major = raw[0];
    out->hdr.minor = raw[1];
    out->hdr.type = raw[2];
    out->hdr.flags = raw[3];
    out->hdr.seq = get_u16(raw + 4);
    if (out->hdr.major != BRIDGE_PROTO_MAJOR)
        return BRIDGE_ERR_VERSION;
    plen = len - BRIDGE_HEADER_LEN;
    want = expected_len(out->hdr.type, p, plen);
    if (want < 0)
        return BRIDGE_ERR_UNKNOWN_TYPE;
    /* A newer minor version may append fields: accept and ignore trailing bytes. */
    if (plen < (size_t)want || (plen > (size_t)want && out->hdr.minor <= BRIDGE_PROTO_MINOR))
        return BRIDGE_ERR_BAD_PAYLOAD;

    switch (out->hdr.type) {
    case BRIDGE_HELLO:
        out->u.hello.nonce = get_u32(p);
        out->u.hello.state_period_ms = get_u16(p + 4);
        break;
    case BRIDGE_HELLO_ACK: {
        bridge_hello_ack_t *m = &out->u.hello_ack;
        m->nonce = get_u32(p);
        m->boot_id = get_u32(p + 4);
        m->n_actuators = p[8];
        m->control_period_us = get_u32(p + 9);
        m->max_valid_ms = get_u16(p + 13);
        m->status = p[15];
        memcpy(m->firmware_id, p + 16, BRIDGE_FIRMWARE_ID_LEN);
        break;
    }
    case BRIDGE_HEARTBEAT: {
        bridge_heartbeat_t *m = &out->u.heartbeat;
        m->uptime_ms = get_u32(p);
        m->boot_id = get_u32(p + 4);
        m->status = p[8];
        m->rx_ok = get_u32(p + 9);
        m->rx_bad = get_u32(p + 13);
        break;
    }
    case BRIDGE_COMMAND: {
        bridge_command_t *m = &out->u.command;
        m->valid_ms = get_u16(p);
        m->n = p[2];
        for (i = 0; i < m->n; i++)
            m->actions[i] = get_f32(p + 3 + 4 * i);
        break;
    }
    case BRIDGE_STATE: {
        bridge_state_t *m = &out->u.state;
        m->fw_time_us = get_u64(p);
        m->status = p[8];
        m->last_cmd_seq = get_u16(p + 9);
        m->n = p[11];
        for (i = 0; i < m->n; i++) {
            m->positions[i] = get_f32(p + 12 + 8 * i);
            m->velocities[i] = get_f32(p + 16 + 8 * i);
        }
        break;
    }
    case BRIDGE_ESTOP: out->u.estop.reason = p[0]; break;
    case BRIDGE_RESUME: break;
    case BRIDGE_ACK:
        out->u.ack.acked_seq = get_u16(p);
        out->u.ack.acked_type = p[2];
        break;
    case BRIDGE_NACK:
        out->u.nack.nacked_seq = get_u16(p);
        out->u.nack.nacked_type = p[2];
        out->u.nack.reason = p[3];
        out->u.nack.detail = get_u16(p + 4);
        break;
    case BRIDGE_FAULT:
        out->u.fault.code = p[0];
        out->u.fault.detail = get_u32(p + 1);
        break;
    default:
        return BRIDGE_ERR_UNKNOWN_TYPE;
    }
    return BRIDGE_OK;
}

void bridge_decoder_init(bridge_decoder_t *d) { memset(d, 0, sizeof *d); }

/* One delimiter seen: turn the buffered bytes into a message or an error. */
static int finish_frame(bridge_decoder_t *d, bridge_msg_t *out)
{
    uint8_t raw[BRIDGE_MAX_RAW];
    long n;
    size_t body;
    uint32_t crc;

    if (d->overflow)
        return BRIDGE_ERR_TOO_LONG;
    n = bridge_cobs_decode(d->buf, d->len, raw, sizeof raw);
    if (n < 0)
        return BRIDGE_ERR_COBS;
    if ((size_t)n < BRIDGE_HEADER_LEN + BRIDGE_CRC_LEN)
        return BRIDGE_ERR_TOO_SHORT;
    body = (size_t)n - BRIDGE_CRC_LEN;
    crc = get_u32(raw + body);
    if (crc != bridge_crc32c(raw, body, 0))
        return BRIDGE_ERR_CRC;
    memcpy(d->last_raw, raw, body);
    d->last_raw_len = (uint8_t)body;
    return bridge_parse(raw, body, out);
}

int bridge_decoder_push(bridge_decoder_t *d, uint8_t byte, bridge_msg_t *out)
{
    int r;
    if (byte != 0x00) {
        if (d->len < sizeof d->buf)
            d->buf[d->len++] = byte;
        else
            d->overflow = 1; /* keep discarding until the delimiter */
        return BRIDGE_NONE;
    }
    if (d->len == 0 && !d->overflow)
        return BRIDGE_NONE; /* empty frame: idle line or back-to-back delimiters */
    r = finish_frame(d, out);
    d->len = 0;
    d->overflow = 0;
    if (r == BRIDGE_OK)
        d->frames_ok++;
    else
        d->errors++;
    return r;
}

#include "bridge_firmware.h"

#include <math.h>
#include <string.h>

static void send(bridge_fw_t *fw, bridge_msg_t *msg, uint8_t type)
{
    uint8_t wire[BRIDGE_MAX_WIRE];
    size_t n;
    msg->hdr.major = BRIDGE_PROTO_MAJOR;
    msg->hdr.minor = BRIDGE_PROTO_MINOR;
    msg->hdr.type = type;
    msg->hdr.flags = 0;
    msg->hdr.seq = fw->tx_seq++;
    n = bridge_encode(msg, wire, sizeof wire);
    if (n > 0)
        fw->hal.write(fw->hal.ctx, wire, n);
}

static void send_ack(bridge_fw_t *fw, const bridge_header_t *h)
{
    bridge_msg_t m;
    memset(&m, 0, sizeof m);
    m.u.ack.acked_seq = h->seq;
    m.u.ack.acked_type = h->type;
    send(fw, &m, BRIDGE_ACK);
}

static void send_nack(bridge_fw_t *fw, const bridge_header_t *h, uint8_t reason, uint16_t detail)
{
    bridge_msg_t m;
    memset(&m, 0, sizeof m);
    m.u.nack.nacked_seq = h->seq;
    m.u.nack.nacked_type = h->type;
    m.u.nack.reason = reason;
    m.u.nack.detail = detail;
    send(fw, &m, BRIDGE_NACK);
}

static void send_fault(bridge_fw_t *fw, uint8_t code, uint32_t detail)
{
    bridge_msg_t m;
    memset(&m, 0, sizeof m);
    m.u.fault.code = code;
    m.u.fault.detail = detail;
    send(fw, &m, BRIDGE_FAULT);
}

static void send_state(bridge_fw_t *fw, uint64_t now_us)
{
    bridge_msg_t m;
    memset(&m, 0, sizeof m);
    m.u.state.fw_time_us = now_us - fw->boot_us;
    m.u.state.status = fw->status;
    m.u.state.last_cmd_seq = fw->last_cmd_seq;
    m.u.state.n = fw->cfg.n_actuators;
    fw->hal.actuators_read(fw->hal.ctx, m.u.state.positions, m.u.state.velocities, fw->cfg.n_actuators);
    send(fw, &m, BRIDGE_STATE);
}

static void send_heartbeat(bridge_fw_t *fw, uint64_t now_us)
{
    bridge_msg_t m;
    memset(&m, 0, sizeof m);
    m.u.heartbeat.uptime_ms = (uint32_t)((now_us - fw->boot_us) / 1000u);
    m.u.heartbeat.boot_id = fw->boot_id;
    m.u.heartbeat.status = fw->status;
    m.u.heartbeat.rx_ok = fw->rx_ok;
    m.u.heartbeat.rx_bad = fw->rx_bad;
    send(fw, &m, BRIDGE_HEARTBEAT);
}

/* Stop now and forget the active command. */
static void stop_actuators(bridge_fw_t *fw)
{
    fw->hal.actuators_stop(fw->hal.ctx);
    fw->status &= (uint8_t)~BRIDGE_STATUS_ACTIVE;
}

void bridge_fw_init(bridge_fw_t *fw, const bridge_fw_config_t *cfg, const bridge_hal_t *hal,
                    uint32_t boot_id, uint64_t now_us)
{
    memset(fw, 0, sizeof *fw);
    fw->cfg = *cfg;
    if (fw->cfg.n_actuators == 0 || fw->cfg.n_actuators > BRIDGE_MAX_ACTUATORS)
        fw->cfg.n_actuators = 1;
    fw->hal = *hal;
    bridge_decoder_init(&fw->dec);
    fw->boot_id = boot_id;
    fw->boot_us = now_us;
    fw->state_period_ms = cfg->state_period_ms;
    fw->hal.actuators_stop(fw->hal.ctx); /* never trust what the outputs held before reset */
    send_heartbeat(fw, now_us);          /* announce the (new) boot id right away */
    fw->next_heartbeat_us = now_us + (uint64_t)cfg->heartbeat_period_ms * 1000u;
    fw->next_state_us = now_us;
}

static void handle_command(bridge_fw_t *fw, const bridge_msg_t *m, uint64_t now_us)
{
    const bridge_command_t *c = &m->u.command;
    uint8_t i;
    if (!(fw->status & BRIDGE_STATUS_CONNECTED)) {
        send_nack(fw, &m->hdr, BRIDGE_NACK_NOT_CONNECTED, 0);
        return;
    }
    if (fw->status & BRIDGE_STATUS_ESTOP) {
        send_nack(fw, &m->hdr, BRIDGE_NACK_ESTOPPED, 0);
        return;
    }
    if (c->n != fw->cfg.n_actuators) {
        send_nack(fw, &m->hdr, BRIDGE_NACK_BAD_DIMENSION, fw->cfg.n_actuators);
        return;
    }
    if (c->valid_ms == 0 || c->valid_ms > fw->cfg.max_valid_ms) {
        send_nack(fw, &m->hdr, BRIDGE_NACK_BAD_VALIDITY, fw->cfg.max_valid_ms);
        return;
    }
    for (i = 0; i < c->n; i++) {
        if (!isfinite(c->actions[i]) || c->actions[i] > 1.0f || c->actions[i] < -1.0f) {
            send_nack(fw, &m->hdr, BRIDGE_NACK_BAD_VALUE, i);
            return;
        }
    }
    /* Valid: apply it, and (re)arm the watchdog from the time it arrived. */
    fw->hal.actuators_set(fw->hal.ctx, c->actions, c->n);
    fw->cmd_rx_us = now_us;
    fw->cmd_deadline_us = now_us + (uint64_t)c->valid_ms * 1000u;
    fw->last_cmd_seq = m->hdr.seq;
    fw->status = (uint8_t)((fw->status | BRIDGE_STATUS_ACTIVE) & ~BRIDGE_STATUS_WATCHDOG);
    if (m->hdr.flags & BRIDGE_FLAG_ACK_REQ)
        send_ack(fw, &m->hdr);
}

static void handle_hello(bridge_fw_t *fw, const bridge_msg_t *m, uint64_t now_us)
{
    bridge_msg_t r;
    uint8_t i;
    if (fw->status & BRIDGE_STATUS_CONNECTED && !BRIDGE_SEQ_NEWER(m->hdr.seq, fw->rx_window_seq)) {
        for (i = 0; i < fw->n_nonces; i++) {
            if (fw->nonces[i] == m->u.hello.nonce) { /* a HELLO we already answered, replayed */
                fw->stale_frames++;
                return;
            }
        }
    }
    /* A (new) host session: stop whatever the last one left running; ESTOP stays latched. */
    stop_actuators(fw);
    fw->status |= BRIDGE_STATUS_CONNECTED;
    fw->rx_window_seq = m->hdr.seq; /* the new session's sequence window starts here */
    for (i = BRIDGE_NONCE_HISTORY - 1u; i > 0; i--)
        fw->nonces[i] = fw->nonces[i - 1u];
    fw->nonces[0] = m->u.hello.nonce;
    if (fw->n_nonces < BRIDGE_NONCE_HISTORY)
        fw->n_nonces++;
    fw->state_period_ms = m->u.hello.state_period_ms ? m->u.hello.state_period_ms
                                                     : fw->cfg.state_period_ms;
    memset(&r, 0, sizeof r);
    r.u.hello_ack.nonce = m->u.hello.nonce;
    r.u.hello_ack.boot_id = fw->boot_id;
    r.u.hello_ack.n_actuators = fw->cfg.n_actuators;
    r.u.hello_ack.control_period_us = fw->cfg.control_period_us;
    r.u.hello_ack.max_valid_ms = fw->cfg.max_valid_ms;
    r.u.hello_ack.status = fw->status;
    memcpy(r.u.hello_ack.firmware_id, fw->cfg.firmware_id, BRIDGE_FIRMWARE_ID_LEN);
    send(fw, &r, BRIDGE_HELLO_ACK);
    fw->next_state_us = now_us;
}

/* The session's sequence window. Returns 0 when the frame is a stale COMMAND or RESUME (a
 * duplicate or a replay: ignored, no answer). Every other host frame of the session that is
 * newer moves the window forward, so an idle but heartbeating host never drifts half the
 * 16-bit sequence space away from it. */
static int seq_window(bridge_fw_t *fw, const bridge_msg_t *m)
{
    uint8_t t = m->hdr.type;
    int newer;
    if (!(fw->status & BRIDGE_STATUS_CONNECTED))
        return 1; /* no session, no window: COMMAND/RESUME get NOT_CONNECTED */
    if (t != BRIDGE_COMMAND && t != BRIDGE_RESUME && t != BRIDGE_ESTOP && t != BRIDGE_HEARTBEAT)
        return 1; /* firmware->host types (an echo?) say nothing about the host's counter */
    if (t == BRIDGE_HEARTBEAT && m->u.heartbeat.boot_id == fw->boot_id)
        return 1; /* our own HEARTBEAT echoed back: its seq is ours, not the host's */
    newer = BRIDGE_SEQ_NEWER(m->hdr.seq, fw->rx_window_seq);
    if (newer)
        fw->rx_window_seq = m->hdr.seq;
    else if (t == BRIDGE_COMMAND || t == BRIDGE_RESUME) {
        fw->stale_frames++;
        return 0;
    }
    return 1; /* an old ESTOP is still honoured; an old HEARTBEAT is harmless */
}

static void handle(bridge_fw_t *fw, const bridge_msg_t *m, uint64_t now_us)
{
    if (m->hdr.type != BRIDGE_HELLO && !seq_window(fw, m))
        return;
    switch (m->hdr.type) {
    case BRIDGE_HELLO:
        handle_hello(fw, m, now_us);
        break;
    case BRIDGE_HEARTBEAT:
        if (m->hdr.flags & BRIDGE_FLAG_ACK_REQ)
            send_ack(fw, &m->hdr);
        break;
    case BRIDGE_COMMAND:
        handle_command(fw, m, now_us);
        break;
    case BRIDGE_ESTOP:
        /* Honoured in every state, connected or not. */
        stop_actuators(fw);
        fw->status |= BRIDGE_STATUS_ESTOP;
        if (m->hdr.flags & BRIDGE_FLAG_ACK_REQ)
            send_ack(fw, &m->hdr);
        send_fault(fw, BRIDGE_FAULT_ESTOP, m->u.estop.reason);
        send_state(fw, now_us);
        break;
    case BRIDGE_RESUME:
        if (!(fw->status & BRIDGE_STATUS_CONNECTED)) {
            send_nack(fw, &m->hdr, BRIDGE_NACK_NOT_CONNECTED, 0);
            break;
        }
        fw->status &= (uint8_t)~(BRIDGE_STATUS_ESTOP | BRIDGE_STATUS_WATCHDOG);
        if (m->hdr.flags & BRIDGE_FLAG_ACK_REQ)
            send_ack(fw, &m->hdr);
        break;
    default: /* HELLO_ACK, STATE, ACK, NACK, FAULT: firmware -> host only */
        send_nack(fw, &m->hdr, BRIDGE_NACK_UNEXPECTED, m->hdr.type);
        break;
    }
}

void bridge_fw_rx(bridge_fw_t *fw, const uint8_t *data, size_t len, uint64_t now_us)
{
    bridge_msg_t m;
    size_t i;
    for (i = 0; i < len; i++) {
        int r = bridge_decoder_push(&fw->dec, data[i], &m);
        if (r == BRIDGE_NONE)
            continue;
        if (r == BRIDGE_OK) {
            fw->rx_ok++;
            handle(fw, &m, now_us);
            continue;
        }
        fw->rx_bad++;
        /* The CRC passed for these, so the header (and its seq) can be trusted: say why. */
        if (r == BRIDGE_ERR_VERSION)
            send_nack(fw, &m.hdr, BRIDGE_NACK_VERSION,
                      (uint16_t)((BRIDGE_PROTO_MAJOR << 8) | BRIDGE_PROTO_MINOR));
        else if (r == BRIDGE_ERR_UNKNOWN_TYPE)
            send_nack(fw, &m.hdr, BRIDGE_NACK_UNKNOWN_TYPE, m.hdr.type);
        else if (r == BRIDGE_ERR_BAD_PAYLOAD)
            send_nack(fw, &m.hdr, BRIDGE_NACK_BAD_PAYLOAD, (uint16_t)(fw->dec.last_raw_len - BRIDGE_HEADER_LEN));
    }
}

void bridge_fw_tick(bridge_fw_t *fw, uint64_t now_us)
{
    /* 1. The watchdog first: nothing else in this tick may keep an expired command alive. */
    if ((fw->status & BRIDGE_STATUS_ACTIVE) && now_us >= fw->cmd_deadline_us) {
        stop_actuators(fw);
        fw->status |= BRIDGE_STATUS_WATCHDOG;
        fw->watchdog_stops++;
        send_fault(fw, BRIDGE_FAULT_WATCHDOG, (uint32_t)(now_us - fw->cmd_rx_us));
        send_state(fw, now_us);
        fw->next_state_us = now_us + (uint64_t)fw->state_period_ms * 1000u;
    }
    /* 2. Heartbeat: liveness both ways, and the boot id that reveals a reset. */
    if (now_us >= fw->next_heartbeat_us) {
        send_heartbeat(fw, now_us);
        fw->next_heartbeat_us += (uint64_t)fw->cfg.heartbeat_period_ms * 1000u;
        if (fw->next_heartbeat_us <= now_us) /* fell behind: do not burst */
            fw->next_heartbeat_us = now_us + (uint64_t)fw->cfg.heartbeat_period_ms * 1000u;
    }
    /* 3. STATE stream, once a host has said HELLO. */
    if ((fw->status & BRIDGE_STATUS_CONNECTED) && now_us >= fw->next_state_us) {
        send_state(fw, now_us);
        fw->next_state_us += (uint64_t)fw->state_period_ms * 1000u;
        if (fw->next_state_us <= now_us)
            fw->next_state_us = now_us + (uint64_t)fw->state_period_ms * 1000u;
    }
}

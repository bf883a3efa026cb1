/* A firmware core with a recording HAL, for the host-side test runners (vectors_runner.c,
 * fuzz_runner.c): what the core did with each frame becomes one outcome token, named as
 * jepa_edge.bridge.fuzz.FirmwareModel names them, so C and Python can be compared line by line.
 * Header-only (static), one instance per runner. */
#ifndef RECORDING_HAL_H
#define RECORDING_HAL_H

#include <stdio.h>
#include <string.h>

#include "bridge_firmware.h"
#include "bridge_proto.h"

static int g_applied, g_nack_reason, g_hello_ack;
static float g_actions[BRIDGE_MAX_ACTUATORS];
static bridge_decoder_t g_tx_dec; /* decodes what the firmware sends */

static void rec_write(void *ctx, const uint8_t *d, size_t n)
{
    bridge_msg_t m;
    size_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        if (bridge_decoder_push(&g_tx_dec, d[i], &m) != BRIDGE_OK)
            continue;
        if (m.hdr.type == BRIDGE_NACK)
            g_nack_reason = m.u.nack.reason;
        else if (m.hdr.type == BRIDGE_HELLO_ACK)
            g_hello_ack = 1;
    }
}
static void rec_set(void *ctx, const float *t, uint8_t n)
{
    (void)ctx;
    memcpy(g_actions, t, n * sizeof *t);
    g_applied = 1;
}
static void rec_stop(void *ctx) { (void)ctx; memset(g_actions, 0, sizeof g_actions); }
static void rec_read(void *ctx, float *p, float *v, uint8_t n)
{
    (void)ctx;
    memset(p, 0, n * sizeof *p);
    memcpy(v, g_actions, n * sizeof *v);
}

/* A fresh core on the recording HAL, configured as the simulator (sim/bridge_sim.c) is. */
static void rec_fw_init(bridge_fw_t *fw)
{
    static bridge_hal_t hal = {0, rec_write, rec_set, rec_stop, rec_read};
    static bridge_fw_config_t cfg = {0};
    cfg.n_actuators = 2;
    cfg.control_period_us = 10000;
    cfg.max_valid_ms = 1000;
    cfg.heartbeat_period_ms = 200;
    cfg.state_period_ms = 20;
    bridge_decoder_init(&g_tx_dec);
    bridge_fw_init(fw, &cfg, &hal, 1234u, 0);
}

/* Feed `n` bytes at time `t` and return the outcome token ("stale", "apply", "nack:R", "hello",
 * "-" for a frame taken without effect, NULL when no frame ended), written into `nack` if needed. */
static const char *rec_fw_rx(bridge_fw_t *fw, const uint8_t *b, size_t n, uint64_t t, char nack[16])
{
    uint32_t ok0 = fw->rx_ok, stale0 = fw->stale_frames;
    g_applied = g_nack_reason = g_hello_ack = 0;
    bridge_fw_rx(fw, b, n, t);
    if (fw->stale_frames != stale0) return "stale";
    if (g_applied) return "apply";
    if (g_nack_reason) { snprintf(nack, 16, "nack:%d", g_nack_reason); return nack; }
    if (g_hello_ack) return "hello";
    if (fw->rx_ok != ok0) return "-";
    return NULL;
}

#endif

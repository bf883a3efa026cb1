/* A minimal image around the firmware core, to measure what the core costs on a microcontroller
 * (make size): a static bridge_fw_t, a HAL that writes to a dummy register, and the main loop of
 * a board port (feed received bytes, tick once per period). No board support, no Arduino core:
 * the numbers are the core's own flash and static RAM, the part every port carries. */
#include "bridge_firmware.h"

static volatile uint8_t g_uart_dr;   /* stands for a UART data register */
static volatile uint32_t g_clock_us; /* stands for a hardware timer */
static volatile float g_out[BRIDGE_MAX_ACTUATORS];
static bridge_fw_t g_fw;

static void hal_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    while (len--)
        g_uart_dr = *data++;
}

static void hal_set(void *ctx, const float *targets, uint8_t n)
{
    uint8_t i;
    (void)ctx;
    for (i = 0; i < n; i++)
        g_out[i] = targets[i];
}

static void hal_stop(void *ctx)
{
    uint8_t i;
    (void)ctx;
    for (i = 0; i < BRIDGE_MAX_ACTUATORS; i++)
        g_out[i] = 0.0f;
}

static void hal_read(void *ctx, float *pos, float *vel, uint8_t n)
{
    uint8_t i;
    (void)ctx;
    for (i = 0; i < n; i++) {
        pos[i] = 0.0f;
        vel[i] = g_out[i];
    }
}

int main(void)
{
    bridge_fw_config_t cfg = {2u, 10000u, 500u, 200u, 20u, "jepa-size"};
    bridge_hal_t hal = {0, hal_write, hal_set, hal_stop, hal_read};
    uint64_t last = 0;
    bridge_fw_init(&g_fw, &cfg, &hal, 1u, 0u);
    for (;;) {
        uint64_t now = g_clock_us;
        uint8_t b = g_uart_dr;
        bridge_fw_rx(&g_fw, &b, 1u, now);
        if (now - last >= cfg.control_period_us) {
            last = now;
            bridge_fw_tick(&g_fw, now);
        }
    }
}

/* The thin hardware layer the firmware core needs: bytes out, and the actuators.
 * A board port fills this struct (see arduino/jepa_bridge/jepa_bridge.ino); the simulator
 * fills it with a pty writer and a simulated actuator (sim/bridge_sim.c). Time and received
 * bytes are pushed into the core by the caller, so the core never blocks and never polls. */
#ifndef BRIDGE_HAL_H
#define BRIDGE_HAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    void *ctx;
    /* Send bytes to the host. Must not block for long; dropping bytes when the port is
     * not open is fine (the protocol survives loss). */
    void (*write)(void *ctx, const uint8_t *data, size_t len);
    /* Drive the actuators toward `targets` (normalized, each in [-1, 1], n = n_actuators). */
    void (*actuators_set)(void *ctx, const float *targets, uint8_t n);
    /* Safe stop, now: zero output / brake. Called by the watchdog, ESTOP and HELLO. */
    void (*actuators_stop)(void *ctx);
    /* Measured actuator state (same units as targets: velocity normalized, position integrated). */
    void (*actuators_read)(void *ctx, float *positions, float *velocities, uint8_t n);
} bridge_hal_t;

#ifdef __cplusplus
}
#endif

#endif

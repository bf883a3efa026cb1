// jepa-edge reference firmware for an Arduino-class board: the portable core in src/ (the same
// code the host simulator and the tests run) + this thin HAL for two DC motors on an H-bridge
// driver (TB6612FNG / L298N style: one PWM pin and one direction pin per motor).
//
// Build: `make -C firmware_bridge sketch` assembles build/arduino/jepa_bridge/ (this file + src/),
// then open it in the Arduino IDE or `arduino-cli compile --fqbn arduino:avr:uno build/arduino/jepa_bridge`.
//
// Safety, in layers:
//   1. the core's command watchdog: no valid COMMAND within its validity window -> motors off + FAULT;
//   2. the MCU's hardware watchdog (AVR: 250 ms): a locked-up loop resets the board, and reset
//      leaves the pins as inputs, i.e. the driver's PWM inputs are not driven;
//   3. wire the driver's enable/standby pin with a pull-down so an unpowered or resetting MCU
//      cannot drive the motors.
#include <Arduino.h>
#if defined(__AVR__)
#include <EEPROM.h>
#include <avr/wdt.h>
#endif

#include "src/bridge_firmware.h"

// ---- board configuration: change these for your wiring ----
static const uint8_t N_MOTORS = 2;
static const uint8_t PWM_PIN[N_MOTORS] = {5, 6};  // PWM-capable pins
static const uint8_t DIR_PIN[N_MOTORS] = {7, 8};
static const uint8_t STANDBY_PIN = 9;             // driver enable; pulled down in hardware
static const uint32_t BAUD = 115200;
static const uint32_t CONTROL_PERIOD_US = 10000;  // 100 Hz: watchdog resolution and STATE base rate

static bridge_fw_t fw;
static float applied[N_MOTORS];   // normalized output we drive, in [-1, 1]
static float position[N_MOTORS];  // integrated output; replace with encoder counts if you have them
static uint64_t last_tick_us;

// 64-bit microseconds: micros() wraps every 71.6 minutes.
static uint64_t micros64() {
  static uint32_t last = 0, high = 0;
  uint32_t now = micros();
  if (now < last) high++;
  last = now;
  return ((uint64_t)high << 32) | now;
}

// ---- TX without blocking and without losing frames ----
// The AVR core's Serial TX buffer is 64 bytes (63 usable; Serial.write() blocks when it is full).
// The core can emit more than that at once: an ESTOP with ACK_REQ is answered ACK (15 B) + FAULT
// (17 B) + STATE (40 B with 2 actuators) = 72 B, and a watchdog stop's FAULT + STATE can meet a
// due HEARTBEAT (29 B). Writing only what fits dropped the STATE. So a frame that does not fit goes,
// whole, into this outbox, and pump_tx() (every loop() iteration) moves it into the UART buffer as
// that drains: at 115200 baud 64 bytes leave in 5.6 ms. Only a frame that fits in neither is dropped.
static uint8_t outbox[128];  // > any frame the core sends (the largest: STATE, 24 + 8n = 88 B at n = 8)
static uint8_t ob_head, ob_len;
static uint32_t tx_dropped;  // frames dropped whole (visible in a debugger; the host sees a seq gap)

static void pump_tx() {
  while (ob_len) {
    int room = Serial.availableForWrite();
    if (room <= 0) return;
    size_t n = ob_len;
    if (n > (size_t)room) n = (size_t)room;
    if (n > sizeof outbox - ob_head) n = sizeof outbox - ob_head;  // up to the ring's end
    Serial.write(outbox + ob_head, n);
    ob_head = (uint8_t)((ob_head + n) % sizeof outbox);
    ob_len = (uint8_t)(ob_len - n);
  }
}

// ---- the HAL the core calls ----
static void hal_write(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  pump_tx();
  // Never block the control loop on a full TX buffer, and keep frames in order and whole.
  if (ob_len == 0 && (size_t)Serial.availableForWrite() >= len) {
    Serial.write(data, len);
  } else if (sizeof outbox - ob_len >= len) {
    for (size_t i = 0; i < len; i++) outbox[(ob_head + ob_len + i) % sizeof outbox] = data[i];
    ob_len = (uint8_t)(ob_len + len);
    pump_tx();
  } else {
    tx_dropped++;  // the protocol survives loss; a partial frame would only be garbage
  }
}

static void drive(uint8_t i, float v) {
  applied[i] = v;
  digitalWrite(DIR_PIN[i], v >= 0.0f ? HIGH : LOW);
  analogWrite(PWM_PIN[i], (int)((v >= 0.0f ? v : -v) * 255.0f + 0.5f));
}

static void hal_actuators_set(void *ctx, const float *targets, uint8_t n) {
  (void)ctx;
  digitalWrite(STANDBY_PIN, HIGH);
  for (uint8_t i = 0; i < n && i < N_MOTORS; i++) drive(i, targets[i]);
}

static void hal_actuators_stop(void *ctx) {
  (void)ctx;
  for (uint8_t i = 0; i < N_MOTORS; i++) drive(i, 0.0f);
  digitalWrite(STANDBY_PIN, LOW);  // driver in standby: outputs off
}

static void hal_actuators_read(void *ctx, float *pos, float *vel, uint8_t n) {
  (void)ctx;
  for (uint8_t i = 0; i < n; i++) {
    pos[i] = i < N_MOTORS ? position[i] : 0.0f;
    vel[i] = i < N_MOTORS ? applied[i] : 0.0f;
  }
}

// A boot id that differs on every reset: a counter kept in EEPROM where there is one, mixed
// with analog noise so two boards do not share ids.
static uint32_t make_boot_id() {
  uint32_t noise = 0;
  for (uint8_t i = 0; i < 32; i++) noise = (noise << 1) ^ (uint32_t)analogRead(A0) ^ micros();
#if defined(__AVR__)
  uint32_t count;
  EEPROM.get(0, count);
  count++;
  EEPROM.put(0, count);
  noise ^= count * 2654435761u;
#endif
  return noise ? noise : 1u;
}

void setup() {
#if defined(__AVR__)
  wdt_disable();
#endif
  pinMode(STANDBY_PIN, OUTPUT);
  digitalWrite(STANDBY_PIN, LOW);
  for (uint8_t i = 0; i < N_MOTORS; i++) {
    pinMode(PWM_PIN[i], OUTPUT);
    pinMode(DIR_PIN[i], OUTPUT);
  }
  Serial.begin(BAUD);

  bridge_fw_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.n_actuators = N_MOTORS;
  cfg.control_period_us = CONTROL_PERIOD_US;
  cfg.max_valid_ms = 500;  // the host may not ask for more than this per COMMAND
  cfg.heartbeat_period_ms = 200;
  cfg.state_period_ms = 20;
  memcpy(cfg.firmware_id, "jepa-arduino-1", 14);

  bridge_hal_t hal;
  hal.ctx = 0;
  hal.write = hal_write;
  hal.actuators_set = hal_actuators_set;
  hal.actuators_stop = hal_actuators_stop;
  hal.actuators_read = hal_actuators_read;

  last_tick_us = micros64();
  bridge_fw_init(&fw, &cfg, &hal, make_boot_id(), last_tick_us);
#if defined(__AVR__)
  wdt_enable(WDTO_250MS);
#endif
}

void loop() {
  pump_tx();  // frames waiting in the outbox go out as the UART buffer drains
  uint8_t buf[32];
  size_t n = 0;
  while (Serial.available() > 0 && n < sizeof buf) buf[n++] = (uint8_t)Serial.read();
  uint64_t now = micros64();
  if (n) bridge_fw_rx(&fw, buf, n, now);

  if (now - last_tick_us >= CONTROL_PERIOD_US) {
    float dt = (float)(now - last_tick_us) * 1e-6f;
    for (uint8_t i = 0; i < N_MOTORS; i++) position[i] += applied[i] * dt;
    last_tick_us = now;
    bridge_fw_tick(&fw, now);  // the command watchdog runs here
  }
#if defined(__AVR__)
  wdt_reset();
#endif
}

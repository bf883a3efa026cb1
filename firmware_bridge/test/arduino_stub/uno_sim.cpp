/* Runs jepa_bridge.ino on the host against a model of the AVR Arduino core's HardwareSerial
 * (make uno-sim), to check what reaches the wire when the 64-byte TX buffer is the limit.
 *
 *   build/uno_sim HEX_IN [LOOPS] [US_PER_LOOP]
 *
 * setup() runs, then the bytes of HEX_IN arrive in the RX buffer at once, then loop() runs
 * LOOPS times (default 2000) while simulated time advances US_PER_LOOP (default 20) each. The
 * TX buffer holds 63 bytes (SERIAL_TX_BUFFER_SIZE 64, one slot kept free) and drains at 115200
 * baud (10 bits a byte); write() of more than fits blocks on a real Uno, so here it aborts.
 * Prints the hex of every byte that left the UART. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Arduino.h"

static const unsigned TX_CAP = 63;
static unsigned long g_us;
static double g_drain_credit;
static uint8_t g_tx[256];
static unsigned g_tx_len;
static uint8_t g_rx[4096];
static unsigned g_rx_len, g_rx_pos;
static unsigned long g_wire_bytes;

HardwareSerial Serial;

static void drain(void)
{
    unsigned n = (unsigned)g_drain_credit;
    if (n > g_tx_len) n = g_tx_len;
    for (unsigned i = 0; i < n; i++) printf("%02x", g_tx[i]);
    memmove(g_tx, g_tx + n, g_tx_len - n);
    g_tx_len -= n;
    g_wire_bytes += n;
    g_drain_credit -= n;
    if (g_tx_len == 0 && g_drain_credit > 1.0) g_drain_credit = 1.0; /* an idle UART saves no credit */
}

void HardwareSerial::begin(unsigned long baud) { (void)baud; }
int HardwareSerial::available(void) { return (int)(g_rx_len - g_rx_pos); }
int HardwareSerial::availableForWrite(void) { drain(); return (int)(TX_CAP - g_tx_len); }
int HardwareSerial::read(void) { return g_rx_pos < g_rx_len ? g_rx[g_rx_pos++] : -1; }
size_t HardwareSerial::write(const uint8_t *data, size_t len)
{
    drain();
    if (g_tx_len + len > TX_CAP) {
        fprintf(stderr, "uno_sim: Serial.write(%u) with %u free: a real Uno blocks here\n", (unsigned)len,
                TX_CAP - g_tx_len);
        exit(3);
    }
    memcpy(g_tx + g_tx_len, data, len);
    g_tx_len += (unsigned)len;
    return len;
}

void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t, uint8_t) {}
void analogWrite(uint8_t, int) {}
int analogRead(uint8_t) { return 512; }
unsigned long micros(void) { return g_us; }
unsigned long millis(void) { return g_us / 1000; }

void setup(void);
void loop(void);

int main(int argc, char **argv)
{
    long loops = argc > 2 ? atol(argv[2]) : 2000, us = argc > 3 ? atol(argv[3]) : 20;
    const char *hex = argc > 1 ? argv[1] : "";
    setup();
    for (size_t i = 0; hex[i] && hex[i + 1] && g_rx_len < sizeof g_rx; i += 2) {
        unsigned v;
        if (sscanf(hex + i, "%2x", &v) != 1) break;
        g_rx[g_rx_len++] = (uint8_t)v;
    }
    for (long k = 0; k < loops; k++) {
        loop();
        g_us += (unsigned long)us;
        g_drain_credit += us * 115200.0 / 10.0 / 1e6;
        drain();
    }
    g_drain_credit = 1e9;
    drain();
    printf("\n");
    fprintf(stderr, "uno_sim: %lu bytes on the wire\n", g_wire_bytes);
    return 0;
}

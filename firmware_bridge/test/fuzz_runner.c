#define _POSIX_C_SOURCE 200809L
/* Feeds a fuzz corpus to the C decoder and to a firmware core, built with
 * -fsanitize=address,undefined (make fuzz-runner), so memory or UB errors abort the run.
 *
 *   build/fuzz_runner CORPUS.txt > results.txt
 *
 * CORPUS.txt: one case per line, the byte stream in hex. For every case it prints one line:
 * the decoder's results in order, separated by spaces: "ok:<hex of header+payload>" for an
 * accepted frame, or the error name ("crc", "cobs", ...). An empty line means "nothing".
 * The Python test runs its own decoder on the same corpus and compares line by line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_firmware.h"

static void null_write(void *ctx, const uint8_t *d, size_t n) { (void)ctx; (void)d; (void)n; }
static void null_set(void *ctx, const float *t, uint8_t n) { (void)ctx; (void)t; (void)n; }
static void null_stop(void *ctx) { (void)ctx; }
static void null_read(void *ctx, float *p, float *v, uint8_t n)
{
    (void)ctx;
    memset(p, 0, n * sizeof *p);
    memset(v, 0, n * sizeof *v);
}

int main(int argc, char **argv)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    long cases = 0, frames = 0, errors = 0;
    bridge_hal_t hal = {0, null_write, null_set, null_stop, null_read};
    bridge_fw_config_t cfg;

    memset(&cfg, 0, sizeof cfg);
    cfg.n_actuators = 2;
    cfg.control_period_us = 10000;
    cfg.max_valid_ms = 1000;
    cfg.heartbeat_period_ms = 200;
    cfg.state_period_ms = 20;
    if (argc != 2 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: fuzz_runner CORPUS.txt\n");
        return 2;
    }
    while (getline(&line, &cap, f) >= 0) {
        size_t n = strcspn(line, "\r\n"), i;
        bridge_decoder_t d;
        bridge_fw_t fw;
        bridge_msg_t m;
        int first = 1;
        uint64_t t = 0;
        bridge_decoder_init(&d);
        bridge_fw_init(&fw, &cfg, &hal, 1234u, 0);
        for (i = 0; i + 1 < n; i += 2) {
            unsigned v;
            uint8_t b;
            int r;
            if (sscanf(line + i, "%2x", &v) != 1)
                break;
            b = (uint8_t)v;
            r = bridge_decoder_push(&d, b, &m);
            /* the firmware core sees the same bytes, with time moving so the watchdog fires too */
            bridge_fw_rx(&fw, &b, 1, t);
            t += 997;
            bridge_fw_tick(&fw, t);
            if (r == BRIDGE_NONE)
                continue;
            printf("%s", first ? "" : " ");
            first = 0;
            if (r == BRIDGE_OK) {
                unsigned k;
                printf("ok:");
                for (k = 0; k < d.last_raw_len; k++)
                    printf("%02x", d.last_raw[k]);
                frames++;
            } else {
                printf("%s", bridge_result_name(r));
                errors++;
            }
        }
        printf("\n");
        cases++;
    }
    free(line);
    fclose(f);
    fprintf(stderr, "fuzz_runner: %ld cases, %ld frames accepted, %ld errors\n", cases, frames, errors);
    return 0;
}

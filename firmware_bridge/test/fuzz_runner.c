#define _POSIX_C_SOURCE 200809L
/* Feeds a fuzz corpus to the C decoder and to a firmware core, built with
 * -fsanitize=address,undefined (make fuzz-runner), so memory or UB errors abort the run.
 *
 *   build/fuzz_runner CORPUS.txt > results.txt
 *
 * CORPUS.txt: one case per line, the byte stream in hex. For every case it prints one line:
 *   <decoder results> | <firmware outcomes>
 * The decoder results, in order, separated by spaces: "ok:<hex of header+payload>" for an
 * accepted frame, or the error name ("crc", "cobs", ...). The firmware outcomes: one token for
 * every frame a fresh firmware core (2 actuators, max_valid_ms 1000, boot id 1234) handled or
 * answered, as jepa_edge.bridge.fuzz.FirmwareModel names them: "apply" (a COMMAND set the
 * actuators), "stale" (ignored as a duplicate or replay), "hello" (new session), "nack:R", "-".
 * The judge (python -m jepa_edge.bridge.fuzz judge, `make fuzz`) compares every line with Python.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_firmware.h"
#include "recording_hal.h"

int main(int argc, char **argv)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    long cases = 0, frames = 0, errors = 0, applied = 0, stale = 0;
    if (argc != 2 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: fuzz_runner CORPUS.txt\n");
        return 2;
    }
    while (getline(&line, &cap, f) >= 0) {
        size_t n = strcspn(line, "\r\n"), i;
        bridge_decoder_t d;
        bridge_fw_t fw;
        bridge_msg_t m;
        int first = 1, first_tok = 1;
        uint64_t t = 0;
        static char toks[1 << 16];
        size_t tl = 0;
        bridge_decoder_init(&d);
        rec_fw_init(&fw);
        toks[0] = 0;
        for (i = 0; i + 1 < n; i += 2) {
            unsigned v;
            uint8_t b;
            int r;
            const char *tok;
            char nack[16];
            if (sscanf(line + i, "%2x", &v) != 1)
                break;
            b = (uint8_t)v;
            r = bridge_decoder_push(&d, b, &m);
            /* the firmware core sees the same bytes, with time moving so the watchdog fires too */
            /* a dropped frame without a NACK (CRC, COBS, length) gives no token */
            tok = rec_fw_rx(&fw, &b, 1, t, nack);
            if (tok && tl + strlen(tok) + 2 < sizeof toks) {
                tl += (size_t)sprintf(toks + tl, "%s%s", first_tok ? "" : " ", tok);
                first_tok = 0;
            }
            if (tok && !strcmp(tok, "apply")) applied++;
            if (tok && !strcmp(tok, "stale")) stale++;
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
        printf(" | %s\n", toks);
        cases++;
    }
    free(line);
    fclose(f);
    fprintf(stderr, "fuzz_runner: %ld cases, %ld frames accepted, %ld errors, %ld commands applied, "
                    "%ld stale frames ignored\n", cases, frames, errors, applied, stale);
    return 0;
}

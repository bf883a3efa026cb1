/* Checks the C codec against firmware_bridge/vectors.json.
 *
 *   build/vectors_runner vectors.json
 *
 * vectors.json keeps one vector per line (tools/make_vectors.py writes it that way), so a
 * line scanner is enough here and the C side needs no JSON library. For every vector it
 * prints one JSON line with what the C code computed; the Python test compares those
 * lines field by field. The runner itself fails (exit 1) when a CRC or COBS vector does not
 * match, when a frame's result differs from "expect", when re-encoding a decoded frame
 * does not give back the exact wire bytes, or when a sequence's outcomes (a firmware core fed
 * its frames in order) differ from "outcomes".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_cobs.h"
#include "bridge_crc32c.h"
#include "bridge_firmware.h"
#include "bridge_proto.h"
#include "recording_hal.h"

#define MAX_BYTES 4096

static int str_field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p, *e;
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return 0;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 1;
}

static int num_field(const char *line, const char *key, unsigned long *out)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(line, pat);
    if (!p)
        return 0;
    *out = strtoul(p + strlen(pat), NULL, 10);
    return 1;
}

static long unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s), i;
    if (n % 2 || n / 2 > cap)
        return -1;
    for (i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static void print_floats(const char *name, const float *v, unsigned n)
{
    unsigned i;
    printf("\"%s\": [", name);
    for (i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", (double)v[i]); /* 9 digits round-trip any binary32 */
        if (!strpbrk(buf, ".eEn"))
            strcat(buf, ".0"); /* keep it a JSON float: "-0" would parse as the integer 0 */
        printf("%s%s", i ? ", " : "", buf);
    }
    printf("]");
}

static void print_fields(const bridge_msg_t *m)
{
    unsigned i;
    printf("{");
    switch (m->hdr.type) {
    case BRIDGE_HELLO:
        printf("\"nonce\": %lu, \"state_period_ms\": %u", (unsigned long)m->u.hello.nonce, m->u.hello.state_period_ms);
        break;
    case BRIDGE_HELLO_ACK: {
        const bridge_hello_ack_t *a = &m->u.hello_ack;
        printf("\"nonce\": %lu, \"boot_id\": %lu, \"n_actuators\": %u, \"control_period_us\": %lu, "
               "\"max_valid_ms\": %u, \"status\": %u, \"firmware_id\": \"",
               (unsigned long)a->nonce, (unsigned long)a->boot_id, a->n_actuators,
               (unsigned long)a->control_period_us, a->max_valid_ms, a->status);
        for (i = 0; i < BRIDGE_FIRMWARE_ID_LEN && a->firmware_id[i]; i++) {
            unsigned char c = (unsigned char)a->firmware_id[i];
            if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') putchar(c);
            else printf("\\u%04x", c);
        }
        printf("\"");
        break;
    }
    case BRIDGE_HEARTBEAT: {
        const bridge_heartbeat_t *h = &m->u.heartbeat;
        printf("\"uptime_ms\": %lu, \"boot_id\": %lu, \"status\": %u, \"rx_ok\": %lu, \"rx_bad\": %lu",
               (unsigned long)h->uptime_ms, (unsigned long)h->boot_id, h->status,
               (unsigned long)h->rx_ok, (unsigned long)h->rx_bad);
        break;
    }
    case BRIDGE_COMMAND:
        printf("\"valid_ms\": %u, ", m->u.command.valid_ms);
        print_floats("actions", m->u.command.actions, m->u.command.n);
        break;
    case BRIDGE_STATE:
        printf("\"fw_time_us\": %llu, \"status\": %u, \"last_cmd_seq\": %u, ",
               (unsigned long long)m->u.state.fw_time_us, m->u.state.status, m->u.state.last_cmd_seq);
        print_floats("positions", m->u.state.positions, m->u.state.n);
        printf(", ");
        print_floats("velocities", m->u.state.velocities, m->u.state.n);
        break;
    case BRIDGE_ESTOP: printf("\"reason\": %u", m->u.estop.reason); break;
    case BRIDGE_RESUME: break;
    case BRIDGE_ACK: printf("\"acked_seq\": %u, \"acked_type\": %u", m->u.ack.acked_seq, m->u.ack.acked_type); break;
    case BRIDGE_NACK:
        printf("\"nacked_seq\": %u, \"nacked_type\": %u, \"reason\": %u, \"detail\": %u",
               m->u.nack.nacked_seq, m->u.nack.nacked_type, m->u.nack.reason, m->u.nack.detail);
        break;
    case BRIDGE_FAULT: printf("\"code\": %u, \"detail\": %lu", m->u.fault.code, (unsigned long)m->u.fault.detail); break;
    default: break;
    }
    printf("}");
}

/* ---- sequences: a firmware core with a recording HAL (recording_hal.h) ---- */

/* Feed each frame of `frames_hex` (space-separated) to a fresh firmware; write the outcome
 * tokens (jepa_edge.bridge.fuzz.FirmwareModel's names) into `out`. Returns the firmware. */
static void run_sequence(const char *frames_hex, char *out, size_t cap, bridge_fw_t *fw)
{
    static uint8_t buf[MAX_BYTES];
    const char *p = frames_hex;
    size_t ol = 0;
    uint64_t t = 0;
    rec_fw_init(fw);
    out[0] = 0;
    while (*p) {
        size_t n = 0;
        const char *tok;
        char nack[16];
        while (*p == ' ') p++;
        while (p[0] && p[1] && p[0] != ' ' && n < sizeof buf) {
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1) break;
            buf[n++] = (uint8_t)v;
            p += 2;
        }
        if (n == 0) break;
        tok = rec_fw_rx(fw, buf, n, t, nack);
        if (!tok) tok = "?";
        t += 1000; /* 1 ms between frames: no COMMAND (valid >= 500 ms) expires */
        ol += (size_t)snprintf(out + ol, ol < cap ? cap - ol : 0, "%s%s", ol ? " " : "", tok);
    }
}

int main(int argc, char **argv)
{
    static char line[1 << 16];
    char name[128], a_hex[2 * MAX_BYTES + 1], b_hex[2 * MAX_BYTES + 1], expect[32];
    uint8_t a[MAX_BYTES], b[MAX_BYTES], c[2 * MAX_BYTES];
    FILE *f;
    int failures = 0, checked = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: vectors_runner vectors.json\n");
        return 2;
    }
    f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    if (bridge_crc32c((const uint8_t *)"123456789", 9, 0) != BRIDGE_CRC32C_CHECK) {
        fprintf(stderr, "CRC-32C check value wrong\n");
        failures++;
    }
    while (fgets(line, sizeof line, f)) {
        unsigned long want;
        long na, nb;
        if (!str_field(line, "name", name, sizeof name))
            continue;
        if (str_field(line, "data_hex", a_hex, sizeof a_hex) && num_field(line, "crc", &want)) {
            uint32_t crc;
            na = unhex(a_hex, a, sizeof a);
            crc = bridge_crc32c(a, (size_t)(na < 0 ? 0 : na), 0);
            printf("{\"section\": \"crc32c\", \"name\": \"%s\", \"crc\": %lu}\n", name, (unsigned long)crc);
            if (na < 0 || crc != want) { fprintf(stderr, "crc32c %s: got %08lx\n", name, (unsigned long)crc); failures++; }
            checked++;
        } else if (str_field(line, "raw_hex", a_hex, sizeof a_hex) && str_field(line, "encoded_hex", b_hex, sizeof b_hex)) {
            size_t ne;
            long nd;
            na = unhex(a_hex, a, sizeof a);
            nb = unhex(b_hex, b, sizeof b);
            ne = bridge_cobs_encode(a, (size_t)na, c, sizeof c);
            nd = bridge_cobs_decode(b, (size_t)nb, c + MAX_BYTES, MAX_BYTES);
            printf("{\"section\": \"cobs\", \"name\": \"%s\", \"encoded_len\": %lu, \"decoded_len\": %ld}\n",
                   name, (unsigned long)ne, nd);
            if (ne != (size_t)nb || memcmp(c, b, ne) || nd != na || memcmp(c + MAX_BYTES, a, (size_t)na)) {
                fprintf(stderr, "cobs %s: mismatch\n", name);
                failures++;
            }
            checked++;
        } else if (str_field(line, "frames_hex", a_hex, sizeof a_hex) && str_field(line, "outcomes", b_hex, sizeof b_hex)) {
            static char got[2 * MAX_BYTES];
            bridge_fw_t fw;
            unsigned long want_seq = 0, want_stale = 0;
            run_sequence(a_hex, got, sizeof got, &fw);
            num_field(line, "last_cmd_seq", &want_seq);
            num_field(line, "stale_frames", &want_stale);
            printf("{\"section\": \"sequences\", \"name\": \"%s\", \"outcomes\": \"%s\", \"last_cmd_seq\": %u, "
                   "\"stale_frames\": %lu, ", name, got, fw.last_cmd_seq, (unsigned long)fw.stale_frames);
            print_floats("actions", g_actions, fw.cfg.n_actuators);
            printf("}\n");
            if (strcmp(got, b_hex) != 0 || fw.last_cmd_seq != want_seq || fw.stale_frames != want_stale) {
                fprintf(stderr, "sequence %s: got \"%s\" (last_cmd_seq %u, stale %lu), expected \"%s\"\n", name, got,
                        fw.last_cmd_seq, (unsigned long)fw.stale_frames, b_hex);
                failures++;
            }
            checked++;
        } else if (str_field(line, "wire_hex", a_hex, sizeof a_hex) && str_field(line, "expect", expect, sizeof expect)) {
            bridge_decoder_t d;
            bridge_msg_t m;
            int r = BRIDGE_NONE, results = 0;
            long k;
            na = unhex(a_hex, a, sizeof a);
            bridge_decoder_init(&d);
            for (k = 0; k < na; k++) {
                int rr = bridge_decoder_push(&d, a[k], &m);
                if (rr != BRIDGE_NONE) { r = rr; results++; }
            }
            printf("{\"section\": \"frames\", \"name\": \"%s\", \"results\": %d, \"result\": \"%s\"",
                   name, results, bridge_result_name(r));
            if (r == BRIDGE_OK || r == BRIDGE_ERR_VERSION || r == BRIDGE_ERR_UNKNOWN_TYPE || r == BRIDGE_ERR_BAD_PAYLOAD)
                printf(", \"header\": {\"major\": %u, \"minor\": %u, \"type\": %u, \"flags\": %u, \"seq\": %u}",
                       m.hdr.major, m.hdr.minor, m.hdr.type, m.hdr.flags, m.hdr.seq);
            if (r == BRIDGE_OK) {
                size_t ne = bridge_encode(&m, c, sizeof c);
                int same = ne == (size_t)na && !memcmp(c, a, ne);
                printf(", \"fields\": ");
                print_fields(&m);
                /* frames from a newer minor may carry extra bytes we drop: no byte identity then */
                if (m.hdr.minor <= BRIDGE_PROTO_MINOR) {
                    printf(", \"reencoded_identical\": %s", same ? "true" : "false");
                    if (!same) { fprintf(stderr, "frame %s: re-encoding differs\n", name); failures++; }
                }
            }
            printf("}\n");
            if (strcmp(bridge_result_name(r), expect) != 0 || results != 1) {
                fprintf(stderr, "frame %s: expected %s, got %s (%d results)\n", name, expect, bridge_result_name(r), results);
                failures++;
            }
            checked++;
        }
    }
    fclose(f);
    fprintf(stderr, "vectors_runner: %d vectors checked, %d failures\n", checked, failures);
    return failures ? 1 : (checked ? 0 : 1);
}

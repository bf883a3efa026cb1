/* Host build of the firmware: the same portable core (src/) driving a simulated actuator,
 * talking over a pseudo-terminal (default), stdin/stdout, or one TCP client.
 *
 *   build/bridge_sim [--pty] [--link PATH] | --stdio | --tcp PORT
 *                    [--actuators N] [--period-us US] [--max-valid-ms MS] [--heartbeat-ms MS]
 *                    [--state-ms MS] [--accel A] [--firmware-id ID] [--boot-id N]
 *                    [--exit-with-parent] [-v]
 *
 * On start it prints one line to stdout: "PTY <slave path>" or "TCP <port>" (nothing for
 * --stdio, where stdout is the link). Signals: SIGTERM/SIGINT exit; SIGUSR1 simulates an MCU
 * reset (new boot id, outputs off, session forgotten); SIGUSR2 mutes/unmutes the transmitter
 * (a firmware that hangs its UART, for host-side timeout tests).
 */
#define _GNU_SOURCE 1 /* ppoll, cfmakeraw, posix_openpt */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bridge_firmware.h"

/* ---- simulated actuator: velocity follows the target (optionally slew-limited), position
 * integrates velocity. A safe stop brakes to zero at once: the drive output is what the
 * firmware controls, and that is what STATE reports. ---- */
typedef struct {
    uint8_t n;
    float accel; /* max |dv/dt| in normalized units per second; <= 0 means instantaneous */
    float target[BRIDGE_MAX_ACTUATORS], vel[BRIDGE_MAX_ACTUATORS], pos[BRIDGE_MAX_ACTUATORS];
} actuator_sim_t;

static void act_step(actuator_sim_t *a, float dt)
{
    uint8_t i;
    for (i = 0; i < a->n; i++) {
        if (a->accel <= 0.0f) {
            a->vel[i] = a->target[i];
        } else {
            float dv = a->target[i] - a->vel[i], lim = a->accel * dt;
            a->vel[i] += dv > lim ? lim : (dv < -lim ? -lim : dv);
        }
        a->pos[i] += a->vel[i] * dt;
    }
}

static void act_set(void *ctx, const float *targets, uint8_t n)
{
    actuator_sim_t *a = ctx;
    uint8_t i;
    for (i = 0; i < n && i < a->n; i++) {
        a->target[i] = targets[i];
        if (a->accel <= 0.0f)
            a->vel[i] = targets[i];
    }
}

static void act_stop(void *ctx)
{
    actuator_sim_t *a = ctx;
    memset(a->target, 0, sizeof a->target);
    memset(a->vel, 0, sizeof a->vel);
}

static void act_read(void *ctx, float *pos, float *vel, uint8_t n)
{
    actuator_sim_t *a = ctx;
    uint8_t i;
    for (i = 0; i < n; i++) {
        pos[i] = i < a->n ? a->pos[i] : 0.0f;
        vel[i] = i < a->n ? a->vel[i] : 0.0f;
    }
}

/* ---- the "UART": one fd to read, one to write ---- */
static int g_rx_fd = -1, g_tx_fd = -1;
static volatile sig_atomic_t g_quit, g_reset, g_mute;
static int g_verbose;

static void uart_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    if (g_mute || g_tx_fd < 0)
        return;
    while (len > 0) {
        ssize_t n = write(g_tx_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return; /* nobody reading (buffer full) or gone: like a UART, the bytes are lost */
        }
    }
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t random_boot_id(void)
{
    uint32_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &id, sizeof id) != (ssize_t)sizeof id)
            id = 0;
        close(fd);
    }
    if (id == 0)
        id = (uint32_t)now_us() ^ ((uint32_t)getpid() << 16);
    return id ? id : 1u;
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_reset = 1;
    else if (sig == SIGUSR2)
        g_mute = !g_mute;
    else
        g_quit = 1;
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Master side of a new pty. We also keep the slave open ourselves: otherwise the master
 * reports POLLHUP whenever the host has the port closed, and bytes sit in cooked mode. */
static int open_pty(char *slave_name, size_t cap, int *slave_fd)
{
    struct termios t;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    const char *name;
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || (name = ptsname(m)) == NULL)
        return -1;
    snprintf(slave_name, cap, "%s", name);
    *slave_fd = open(slave_name, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0 || tcgetattr(*slave_fd, &t) != 0)
        return -1;
    cfmakeraw(&t);
    tcsetattr(*slave_fd, TCSANOW, &t);
    set_nonblock(m);
    return m;
}

static int make_link(const char *link, const char *target)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", link, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return -1;
    return rename(tmp, link); /* atomic: a host reopening the path never sees it missing */
}

static int listen_tcp(int port)
{
    struct sockaddr_in a;
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 1) != 0)
        return -1;
    return s;
}

/* firmware_id is a fixed 16-byte field, NUL-padded, not necessarily NUL-terminated. */
static void set_firmware_id(bridge_fw_config_t *cfg, const char *id)
{
    size_t n = strlen(id);
    memset(cfg->firmware_id, 0, sizeof cfg->firmware_id);
    memcpy(cfg->firmware_id, id, n < sizeof cfg->firmware_id ? n : sizeof cfg->firmware_id);
}

static void usage(void)
{
    fprintf(stderr, "usage: bridge_sim [--pty] [--link PATH] | --stdio | --tcp PORT\n"
                    "  [--actuators N] [--period-us US] [--max-valid-ms MS] [--heartbeat-ms MS]\n"
                    "  [--state-ms MS] [--accel A] [--firmware-id ID] [--boot-id N] [--exit-with-parent] [-v]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    enum { MODE_PTY, MODE_STDIO, MODE_TCP } mode = MODE_PTY;
    const char *link_path = NULL;
    int tcp_port = 0, listen_fd = -1, slave_fd = -1, i;
    uint32_t boot_id = 0;
    char slave_name[256] = "";
    bridge_fw_config_t cfg;
    actuator_sim_t act;
    bridge_hal_t hal;
    bridge_fw_t fw;
    struct sigaction sa;
    uint64_t next_tick, last_tick;
    int exit_with_parent = 0;
    pid_t parent = getppid();

    memset(&cfg, 0, sizeof cfg);
    cfg.n_actuators = 2;
    cfg.control_period_us = 10000;
    cfg.max_valid_ms = 1000;
    cfg.heartbeat_period_ms = 200;
    cfg.state_period_ms = 20;
    memset(&act, 0, sizeof act);
    set_firmware_id(&cfg, "jepa-sim-1");

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) usage(); i++; } while (0)
        if (!strcmp(a, "--pty")) mode = MODE_PTY;
        else if (!strcmp(a, "--stdio")) mode = MODE_STDIO;
        else if (!strcmp(a, "--tcp")) { NEEDV(); mode = MODE_TCP; tcp_port = atoi(v); }
        else if (!strcmp(a, "--link")) { NEEDV(); link_path = v; }
        else if (!strcmp(a, "--actuators")) { NEEDV(); cfg.n_actuators = (uint8_t)atoi(v); }
        else if (!strcmp(a, "--period-us")) { NEEDV(); cfg.control_period_us = (uint32_t)strtoul(v, 0, 10); }
        else if (!strcmp(a, "--max-valid-ms")) { NEEDV(); cfg.max_valid_ms = (uint16_t)atoi(v); }
        else if (!strcmp(a, "--heartbeat-ms")) { NEEDV(); cfg.heartbeat_period_ms = (uint16_t)atoi(v); }
        else if (!strcmp(a, "--state-ms")) { NEEDV(); cfg.state_period_ms = (uint16_t)atoi(v); }
        else if (!strcmp(a, "--accel")) { NEEDV(); act.accel = (float)atof(v); }
        else if (!strcmp(a, "--firmware-id")) { NEEDV(); set_firmware_id(&cfg, v); }
        else if (!strcmp(a, "--boot-id")) { NEEDV(); boot_id = (uint32_t)strtoul(v, 0, 0); }
        else if (!strcmp(a, "--exit-with-parent")) exit_with_parent = 1;
        else if (!strcmp(a, "-v")) g_verbose = 1;
        else usage();
#undef NEEDV
    }
    if (cfg.n_actuators < 1 || cfg.n_actuators > BRIDGE_MAX_ACTUATORS || cfg.control_period_us < 100 ||
        cfg.max_valid_ms == 0 || cfg.heartbeat_period_ms == 0) {
        fprintf(stderr, "bridge_sim: bad option value\n");
        return 2;
    }
    act.n = cfg.n_actuators;
#ifdef __linux__
    /* Started by a test or a loop: do not outlive it, even if it is killed with SIGKILL. */
    if (exit_with_parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent))
        return 1;
#else
    (void)parent;
#endif

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mode == MODE_PTY) {
        g_rx_fd = g_tx_fd = open_pty(slave_name, sizeof slave_name, &slave_fd);
        if (g_rx_fd < 0) {
            perror("bridge_sim: pty");
            return 1;
        }
        if (link_path && make_link(link_path, slave_name) != 0) {
            perror("bridge_sim: link");
            return 1;
        }
        printf("PTY %s\n", slave_name);
    } else if (mode == MODE_TCP) {
        listen_fd = listen_tcp(tcp_port);
        if (listen_fd < 0) {
            perror("bridge_sim: tcp");
            return 1;
        }
        printf("TCP %d\n", tcp_port);
    } else {
        g_rx_fd = STDIN_FILENO;
        g_tx_fd = STDOUT_FILENO;
        set_nonblock(STDOUT_FILENO);
    }
    fflush(stdout);

    hal.ctx = &act;
    hal.write = uart_write;
    hal.actuators_set = act_set;
    hal.actuators_stop = act_stop;
    hal.actuators_read = act_read;
    last_tick = now_us();
    bridge_fw_init(&fw, &cfg, &hal, boot_id ? boot_id : random_boot_id(), last_tick);
    if (g_verbose)
        fprintf(stderr, "bridge_sim: boot id %08x\n", (unsigned)fw.boot_id);
    next_tick = last_tick + cfg.control_period_us;

    while (!g_quit) {
        struct pollfd pfd[2];
        struct timespec ts;
        uint64_t now = now_us(), wait = next_tick > now ? next_tick - now : 0;
        int nfds = 0, rc;

        if (g_rx_fd >= 0) { pfd[nfds].fd = g_rx_fd; pfd[nfds].events = POLLIN; nfds++; }
        if (listen_fd >= 0 && g_rx_fd < 0) { pfd[nfds].fd = listen_fd; pfd[nfds].events = POLLIN; nfds++; }
        ts.tv_sec = (time_t)(wait / 1000000u);
        ts.tv_nsec = (long)(wait % 1000000u) * 1000L;
        rc = ppoll(pfd, (nfds_t)nfds, &ts, NULL);
        if (rc > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (pfd[0].fd == listen_fd) {
                g_rx_fd = g_tx_fd = accept(listen_fd, NULL, NULL);
                if (g_rx_fd >= 0)
                    set_nonblock(g_rx_fd);
            } else {
                uint8_t buf[512];
                ssize_t n = read(g_rx_fd, buf, sizeof buf);
                if (n > 0) {
                    uint32_t stale0 = fw.stale_frames;
                    bridge_fw_rx(&fw, buf, (size_t)n, now_us());
                    if (g_verbose && fw.stale_frames != stale0)
                        fprintf(stderr, "bridge_sim: %u stale frame(s) ignored (window seq %u, %lu in all)\n",
                                (unsigned)(fw.stale_frames - stale0), (unsigned)fw.rx_window_seq,
                                (unsigned long)fw.stale_frames);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    if (mode == MODE_STDIO)
                        break; /* stdin closed: the host is gone for good */
                    if (mode == MODE_TCP) {
                        close(g_rx_fd);
                        g_rx_fd = g_tx_fd = -1; /* back to listening; the watchdog keeps running */
                    }
                }
            }
        }
        if (g_reset) { /* simulated MCU reset: all RAM state is lost, the boot id changes */
            g_reset = 0;
            memset(act.target, 0, sizeof act.target);
            memset(act.vel, 0, sizeof act.vel);
            memset(act.pos, 0, sizeof act.pos);
            last_tick = now_us();
            bridge_fw_init(&fw, &cfg, &hal, random_boot_id(), last_tick);
            next_tick = last_tick + cfg.control_period_us;
            if (g_verbose)
                fprintf(stderr, "bridge_sim: reset, boot id %08x\n", (unsigned)fw.boot_id);
        }
        now = now_us();
        if (now >= next_tick) {
            act_step(&act, (float)(now - last_tick) * 1e-6f);
            last_tick = now;
            bridge_fw_tick(&fw, now);
            next_tick += cfg.control_period_us;
            if (next_tick <= now) /* we were descheduled: realign rather than burst */
                next_tick = now + cfg.control_period_us;
        }
    }
    if (link_path) {
        char target[256];
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (!strcmp(target, slave_name))
                unlink(link_path); /* only if it still points at our pty */
        }
    }
    if (slave_fd >= 0)
        close(slave_fd);
    return 0;
}

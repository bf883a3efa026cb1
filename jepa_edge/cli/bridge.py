"""`jepa-edge bridge`: bring up the serial link to a board (or the firmware simulator).

    jepa-edge bridge sim [--link /tmp/robot]          run the C firmware simulator on a pty
    jepa-edge bridge ping URL [--count 200]           handshake, firmware id, round-trip times
    jepa-edge bridge watch URL [--seconds 5]          print STATE, FAULT and link events
    jepa-edge bridge jog URL 0.2 -0.2 [--seconds 1]   drive the actuators briefly at 30 Hz, then stop

URL is what pyserial takes: /dev/ttyACM0, /dev/ttyUSB0, a pty path (what `bridge sim` prints) or
socket://host:port. ping, watch and jog end with the link's counters (frames, CRC and framing errors,
NACKs, faults, reconnects); `--json PATH` writes them as JSON, `--json -` prints them to stdout.
Needs neither torch nor a model: use it to check the wiring before `jepa-edge run`.
"""
from __future__ import annotations

import time

from jepa_edge.cli import _output


def add_arguments(p):
    sub = p.add_subparsers(dest="bridge_command", metavar="ACTION", required=True)
    s = sub.add_parser("sim", help="build and run the C firmware simulator on a pty (Ctrl-C stops it)",
                       description="Build the reference C firmware (firmware_bridge/) for this machine and run it "
                                   "on a pseudo-terminal, so that `bridge ping`, `run` and the tests talk to real "
                                   "firmware code over a real serial link. Ctrl-C or SIGTERM stops it.")
    s.add_argument("--link", help="also make this path a symlink to the pty (stable across restarts)")
    s.add_argument("--tcp", type=int, help="listen on 127.0.0.1:PORT instead of a pty (URL socket://127.0.0.1:PORT)")
    s.add_argument("--actuators", type=int, default=2, help="number of simulated actuators (default %(default)s)")
    s.add_argument("--period-us", type=int, default=10_000, help="control period (watchdog resolution)")
    s.add_argument("--max-valid-ms", type=int, default=1000,
                   help="longest validity window a COMMAND may ask for (default %(default)s)")
    s.add_argument("--state-ms", type=int, default=20, help="default STATE period")
    s.add_argument("--accel", type=float, default=0.0, help="actuator slew limit (units/s^2); 0 = none")
    s.add_argument("-v", "--verbose", action="store_true",
                   help="the simulator logs every frame to stderr (also on with `jepa-edge -v bridge sim`)")

    for name, help_text in (("ping", "handshake and measure round-trip time"),
                            ("watch", "print STATE, FAULT and link events"),
                            ("jog", "drive the actuators briefly at 30 Hz, then stop")):
        q = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        q.add_argument("url", help="/dev/ttyACM0, /dev/ttyUSB0, a pty path, socket://host:port")
        q.add_argument("--baudrate", type=int, default=115200, help="serial speed (default %(default)s)")
        _output.add_json_flag(q, "the final link stats")
        if name == "ping":
            q.add_argument("--count", type=int, default=100, help="pings to send (default %(default)s)")
        if name in ("watch", "jog"):
            q.add_argument("--seconds", type=float, default=5.0 if name == "watch" else 1.0,
                           help="how long (default %(default)s)")
        if name == "jog":
            q.add_argument("action", type=float, nargs="+", help="one value in [-1, 1] per actuator")
            q.add_argument("--valid-ms", type=int, default=100, help="validity window of each COMMAND")


def run(args) -> int:
    return {"sim": _sim, "ping": _ping, "watch": _watch, "jog": _jog}[args.bridge_command](args)


def _sim(args) -> int:
    from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator

    cfg = SimulatorConfig(actuators=args.actuators, period_us=args.period_us, max_valid_ms=args.max_valid_ms,
                          state_ms=args.state_ms, accel=args.accel)
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly as Ctrl-C
    sim = start_simulator(args.link, config=cfg, tcp_port=args.tcp,
                          verbose=args.verbose or _output.level() >= _output.VERBOSE)
    print(f"firmware simulator running (pid {sim.pid}) at {sim.path}"
          + (f" -> {sim.device}" if sim.device != sim.path else ""), flush=True)
    _output.info(f"try: jepa-edge bridge ping {sim.path}   (Ctrl-C stops the simulator)")
    try:
        while sim.alive:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def _open(args):
    from jepa_edge.bridge.link import Link

    link = Link(args.url, baudrate=args.baudrate).open()
    fw = link.firmware
    _output.say(args, f"connected to {fw.firmware_id!r} on {args.url}: boot id {fw.boot_id:08x}, {fw.n_actuators} actuators, "
          f"control period {fw.control_period_us / 1000:.1f} ms, max validity {fw.max_valid_ms} ms")
    return link


def _finish(link, args) -> int:
    st = link.stats()
    link.close()
    _output.write_json(args, st.to_dict())
    if not _output.json_to_stdout(args):
        _output.say(args, f"frames rx/tx {st.frames_rx}/{st.frames_tx}, CRC errors {st.crc_errors}, framing errors "
              f"{st.framing_errors}, seq gaps {st.seq_gaps}, NACKs {st.nacks}, faults {st.faults}, "
              f"reconnects {max(0, st.connects - 1)}, resets {st.resets}")
    return 0


def _ping(args) -> int:
    import numpy as np

    link = _open(args)
    rtts = [r for r in (link.ping() for _ in range(args.count)) if r is not None]
    if rtts:
        ms = np.asarray(rtts) * 1e3
        _output.say(args, f"{len(rtts)}/{args.count} answered: RTT p50 {np.percentile(ms, 50):.3f} ms, "
              f"p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.3f} ms")
    else:
        _output.say(args, f"0/{args.count} pings answered")
    _finish(link, args)
    return 0 if rtts else 1


def _watch(args) -> int:
    link = _open(args)
    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            for ev in link.events():
                _output.say(args, f"[{ev.kind}] {ev.detail}")
            st = link.latest_state(max_age_s=0.5)
            if st is not None:
                vel = " ".join(f"{v:+.3f}" for v in st.velocities)
                pos = " ".join(f"{p:+.3f}" for p in st.positions)
                _output.say(args, f"t={st.fw_time_us / 1e6:9.3f}s status={st.status:#04x} vel [{vel}] pos [{pos}]")
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    return _finish(link, args)


def _jog(args) -> int:
    link = _open(args)
    period = 1 / 30
    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            link.send_command(args.action, args.valid_ms)
            time.sleep(period)
    except KeyboardInterrupt:
        pass
    time.sleep(0.05)
    st = link.latest_state()
    if st is not None:
        _output.say(args, f"last STATE: velocities {list(st.velocities)}, positions {list(st.positions)}")
    return _finish(link, args)  # close() sends a zero COMMAND; the watchdog would stop it anyway

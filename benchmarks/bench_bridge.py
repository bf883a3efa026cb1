"""Serial bridge benchmark -> benchmarks/results/bridge.json.

    python benchmarks/bench_bridge.py [--quick]

Measures, against the compiled C firmware simulator on a pty:
  * round-trip time: the Link's ping (HEARTBEAT+ACK through the reader thread), COMMAND->ACK,
    and a bare pyserial write/read in one thread (the transport's floor), side by side;
  * watchdog stop latency: command once with a validity window W, go silent, time until the
    FAULT arrives and STATE shows zero velocity; bound = W + one control period;
  * frame overhead per COMMAND (and the time it takes on a 115200-baud UART).
The fuzz campaign (every mutation class, 10^6 frames, C under ASan/UBSan) is benchmarks/bench_fuzz.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import serial

from jepa_edge.bridge.codec import Decoder, Frame, encode_frame
from jepa_edge.bridge.link import Link
from jepa_edge.bridge.messages import FLAG_ACK_REQ, AckMsg, CommandMsg, HeartbeatMsg, HelloMsg, StateMsg, Status
from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator
from jepa_edge.utils.device_info import describe
from jepa_edge.utils.files import atomic_write_json

OUT = Path(__file__).resolve().parent / "results" / "bridge.json"


def summary(ms) -> dict:
    a = np.asarray(ms, np.float64)
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 4),
            "p99_ms": round(float(np.percentile(a, 99)), 4), "max_ms": round(float(a.max()), 4),
            "mean_ms": round(float(a.mean()), 4)}


class RawClient:
    """HEARTBEAT with ACK_REQ, then block until the ACK, in one thread: the transport's floor."""

    def __init__(self, path: str):
        self.ser = serial.serial_for_url(path, timeout=0.5)
        self.dec = Decoder()
        self.seq = 0
        self.ser.write(encode_frame(HelloMsg(1), self.seq))

    def rtt_ms(self) -> float:
        self.seq = (self.seq + 1) & 0xFFFF
        t0 = time.perf_counter()
        self.ser.write(encode_frame(HeartbeatMsg(0, 0), self.seq, FLAG_ACK_REQ))
        while True:
            for r in self.dec.feed(self.ser.read(max(1, self.ser.in_waiting))):
                if isinstance(r, Frame) and isinstance(r.msg, AckMsg) and r.msg.acked_seq == self.seq:
                    return (time.perf_counter() - t0) * 1e3


def command_rtts_ms(link: Link, n: int, period_s: float = 0.002) -> list[float]:
    """n COMMANDs with ACK_REQ, paced like a control loop (it does not wait for the ACK); the
    RTTs are the ones the Link's reader thread recorded when each ACK arrived."""
    with link._lock:  # noqa: SLF001 (the benchmark reads the Link's own samples)
        link._rtts.clear()  # noqa: SLF001
    for _ in range(n):
        link.send_command([0.1, -0.1], valid_ms=200)
        time.sleep(period_s)
    time.sleep(0.05)
    with link._lock:  # noqa: SLF001
        return [r * 1e3 for r in link._rtts]  # noqa: SLF001


def rtts(n: int) -> dict:
    """Raw pyserial, Link ping and Link COMMAND->ACK, interleaved in rounds of 50 so all three
    see the same machine load; two simulators so the raw client and the Link never share a port."""
    raw, ping, cmd = [], [], []
    with start_simulator() as sim_a, start_simulator() as sim_b:
        client = RawClient(sim_a.path)
        with Link(sim_b.path) as link:
            for _ in range(100):  # warm-up
                client.rtt_ms(), link.ping()
            command_rtts_ms(link, 100)
            while len(raw) < n:
                raw += [client.rtt_ms() for _ in range(50)]
                ping += [r * 1e3 for r in (link.ping() for _ in range(50)) if r is not None]
                cmd += command_rtts_ms(link, 50)
            stats = link.stats().to_dict()
        client.ser.close()
    return {"raw_pyserial_one_thread": summary(raw), "link_ping": summary(ping),
            "link_command_to_ack": summary(cmd), "target_p99_ms": 1.0, "link_stats_after": stats}


def watchdog_trials(window_ms: int, period_us: int, trials: int) -> dict:
    host_fault, host_zero, fw_detail = [], [], []
    cfg = SimulatorConfig(period_us=period_us, state_ms=1000)  # STATE only on changes, so zero-velocity STATE is the stop
    with start_simulator(config=cfg) as sim, Link(sim.path) as link:
        for _ in range(trials):
            link.events()
            seq = link.send_command([0.7, -0.7], valid_ms=window_ms)
            t_last = time.monotonic()  # the host goes silent from here
            end = t_last + 2.0
            fault = None
            while fault is None and time.monotonic() < end:
                fault = next((e for e in link.events() if e.kind == "fault" and e.detail.startswith("WATCHDOG")), None)
                time.sleep(0.0002)
            st = link.latest_state()
            assert fault is not None and st is not None and st.status & Status.WATCHDOG and st.velocities == (0.0, 0.0), \
                "the firmware did not stop"
            assert seq >= 0
            host_fault.append((fault.time - t_last) * 1e3)
            host_zero.append((st.received_at - t_last) * 1e3)
            fw_detail.append(int(fault.detail.split("detail ")[1].rstrip(")")) / 1e3)
            time.sleep(0.005)
    bound = window_ms + period_us / 1e3
    return {
        "window_ms": window_ms, "control_period_ms": period_us / 1e3, "bound_ms": bound, "trials": trials,
        "host_to_fault_ms": summary(host_fault), "host_to_zero_velocity_state_ms": summary(host_zero),
        "firmware_measured_ms": summary(fw_detail),
        "within_bound_fraction_host": float(np.mean(np.asarray(host_zero) <= bound)),
        "within_bound_fraction_firmware": float(np.mean(np.asarray(fw_detail) <= bound)),
        "never_early": bool(min(fw_detail) >= window_ms),
    }


def overhead() -> dict:
    rows = {}
    for n in (1, 2, 8):
        wire = encode_frame(CommandMsg(100, (0.5,) * n), 1)
        payload = 3 + 4 * n
        rows[f"COMMAND_{n}_actuators"] = {
            "action_bytes": 4 * n, "payload_bytes": payload, "wire_bytes": len(wire),
            "framing_overhead_bytes": len(wire) - payload,  # header 6 + CRC 4 + COBS 1 + delimiter 1
            "uart_115200_ms": round(len(wire) * 10 / 115200 * 1e3, 3),
        }
    st = encode_frame(StateMsg(0, 0, 0, (0.0, 0.0), (0.0, 0.0)), 1)
    rows["STATE_2_actuators"] = {"wire_bytes": len(st), "uart_115200_ms": round(len(st) * 10 / 115200 * 1e3, 3)}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = ap.parse_args()
    n_rtt, n_wd = (200, 20) if args.quick else (3000, 300)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    result = {"command": "python benchmarks/bench_bridge.py" + (" --quick" if args.quick else ""),
              "machine": describe(), "transport": "pty (C firmware simulator, build/bridge_sim)"}
    result["loadavg_before"] = list(os.getloadavg())  # the machine is shared: say how busy it was
    with console.status("round-trip times"):
        result["rtt"] = rtts(n_rtt)
    with console.status("watchdog stop latency"):
        result["watchdog"] = [watchdog_trials(50, 10_000, n_wd), watchdog_trials(20, 1_000, n_wd)]
    result["overhead"] = overhead()
    result["loadavg_after"] = list(os.getloadavg())
    atomic_write_json(OUT, result)

    t = Table(title="bridge over a pty")
    for col in ("measure", "p50 ms", "p99 ms", "max ms", "n"):
        t.add_column(col)
    for name, s in (("RTT raw pyserial", result["rtt"]["raw_pyserial_one_thread"]),
                    ("RTT Link ping", result["rtt"]["link_ping"]),
                    ("RTT Link COMMAND->ACK", result["rtt"]["link_command_to_ack"])):
        t.add_row(name, f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}", f"{s['max_ms']:.3f}", str(s["n"]))
    for w in result["watchdog"]:
        s = w["host_to_zero_velocity_state_ms"]
        t.add_row(f"stop after silence (W={w['window_ms']} ms, P={w['control_period_ms']:g} ms, bound "
                  f"{w['bound_ms']:g})", f"{s['p50_ms']:.2f}", f"{s['p99_ms']:.2f}", f"{s['max_ms']:.2f}", str(s["n"]))
    console.print(t)
    console.print(f"COMMAND (2 actuators): {result['overhead']['COMMAND_2_actuators']['wire_bytes']} bytes on the wire, "
                  f"{result['overhead']['COMMAND_2_actuators']['framing_overhead_bytes']} of them framing")
    console.print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

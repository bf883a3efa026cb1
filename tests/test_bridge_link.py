"""Link resilience against the real firmware simulator: MCU reset, the port vanishing and coming
back (pty behind a stable symlink, and a TCP URL), garbage on the line, a silent peer, version
refusal, exclusive access, and errors users can act on. No exception may reach the caller
once the link is open."""
from __future__ import annotations

import argparse
import random
import socket
import threading
import time

import pytest

from jepa_edge.bridge.link import Link, LinkConfig
from jepa_edge.bridge.messages import Status
from jepa_edge.bridge.simulator import SimulatorConfig, start_simulator
from jepa_edge.bridge.transport import LinkError, ProtocolVersionError
from bridge_support import needs_cc, wait_until as _wait_until

pytestmark = needs_cc
FAST = LinkConfig(peer_timeout_s=0.3, heartbeat_period_s=0.05, backoff_max_s=0.2, open_timeout_s=2.0)


def wait_until(pred, timeout_s: float = 5.0):
    return _wait_until(pred, timeout_s)


def moves(link: Link, action=(0.5, -0.25)) -> bool:
    """Send a command and see the firmware apply it."""
    seq = link.send_command(action, valid_ms=300)
    return seq >= 0 and bool(wait_until(
        lambda: (s := link.latest_state()) and s.last_cmd_seq == seq and s.velocities == tuple(action), 2.0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mcu_reset_mid_session_is_detected_by_boot_id_and_rehandshaken():
    with start_simulator() as sim, Link(sim.path, config=FAST) as link:
        assert moves(link)
        first = link.boot_id
        sim.reset()
        assert wait_until(lambda: link.stats().resets == 1 and link.connected)
        assert link.boot_id != first
        assert any(e.kind == "reset" for e in link.events())
        assert moves(link, (0.25, 0.25))  # the new session works; seq restarted without "gaps"
        assert link.stats().seq_gaps == 0


def test_estop_survives_an_mcu_reset():
    with start_simulator() as sim, Link(sim.path, config=FAST) as link:
        link.send_estop("camera")
        assert wait_until(lambda: (s := link.latest_state()) and s.status & Status.ESTOP)
        sim.reset()  # the MCU forgets its latch; the host re-asserts it after the new handshake
        assert wait_until(lambda: link.stats().resets == 1)
        assert wait_until(lambda: (s := link.latest_state()) and s.status & Status.ESTOP)


def test_pty_vanishes_and_comes_back_at_the_same_path(tmp_path):
    path = tmp_path / "robot"  # like /dev/serial/by-id/...: a stable name for a changing device
    sim = start_simulator(path)
    link = Link(str(path), config=FAST).open()
    try:
        assert moves(link)
        first_boot = link.boot_id
        sim.kill()  # the cable is yanked
        assert wait_until(lambda: not link.connected, 3.0)
        for _ in range(20):  # the caller keeps calling, nothing raises
            assert link.send_command([0.1, 0.1], valid_ms=100) == -1
            link.send_estop("link")
            link.latest_state()
            link.stats()
            time.sleep(0.01)
        sim = start_simulator(path)  # plugged back in: a new pty behind the same path
        assert wait_until(lambda: link.connected, 5.0)
        s = link.stats()
        assert s.disconnects >= 1 and s.connects == 2 and s.resets == 1
        assert link.boot_id != first_boot  # a new firmware process: a new boot id
        # The ESTOP sent while it was gone is latched host-side and re-asserted on reconnect.
        assert wait_until(lambda: (st := link.latest_state()) and st.status & Status.ESTOP)
        link.resume()
        assert wait_until(lambda: moves(link), 3.0)
    finally:
        link.close()
        sim.stop()


def test_tcp_peer_vanishes_and_comes_back_at_the_same_url():
    port = free_port()
    sim = start_simulator(tcp_port=port)
    link = Link(sim.path, config=FAST).open()
    try:
        assert sim.path == f"socket://127.0.0.1:{port}" and moves(link)
        sim.kill()
        assert wait_until(lambda: not link.connected, 3.0)
        assert link.send_command([0.1, 0.1], valid_ms=100) == -1
        sim = start_simulator(tcp_port=port)
        assert wait_until(lambda: link.connected, 5.0)
        assert link.stats().resets == 1 and moves(link)
    finally:
        link.close()
        sim.stop()


class GarbageProxy:
    """TCP man-in-the-middle that inserts random bytes and flips bits, both directions."""

    def __init__(self, upstream_port: int, seed: int = 0, p_noise: float = 0.05):
        self.rng = random.Random(seed)
        self.p = p_noise
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream_port = upstream_port
        self.injected = 0
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        client, _ = self.listener.accept()
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        for a, b in ((client, up), (up, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        while not self._stop:
            try:
                data = bytearray(src.recv(4096))
                if not data:
                    return
                if self.rng.random() < self.p * 4:
                    i = self.rng.randrange(len(data))
                    data[i] ^= 1 << self.rng.randrange(8)
                    self.injected += 1
                if self.rng.random() < self.p * 4:
                    data[self.rng.randrange(len(data) + 1):0] = bytes(
                        self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 40)))
                    self.injected += 1
                dst.sendall(bytes(data))
            except OSError:
                return

    def close(self):
        self._stop = True
        self.listener.close()


def test_garbage_on_the_line_is_dropped_and_never_accepted():
    port = free_port()
    with start_simulator(tcp_port=port, config=SimulatorConfig(state_ms=5)):
        proxy = GarbageProxy(port, seed=11)
        link = Link(f"socket://127.0.0.1:{proxy.port}", config=LinkConfig(open_timeout_s=5.0)).open()
        try:
            action = (0.5, -0.25)
            seen, t_end = set(), time.monotonic() + 1.5
            while time.monotonic() < t_end:
                link.send_command(action, valid_ms=500)
                st = link.latest_state()
                if st is not None:
                    seen.add(st.velocities)
                time.sleep(0.005)
            s = link.stats()
            assert proxy.injected > 20
            assert s.crc_errors + s.framing_errors > 0, s  # the garbage reached the decoder ...
            assert seen <= {action, (0.0, 0.0)}, seen  # ... and no corrupted STATE got through
            assert action in seen and s.acks > 50 and link.connected
            assert s.fw_rx_bad is not None and s.fw_rx_bad > 0  # the firmware dropped some too
        finally:
            link.close()
            proxy.close()


def test_silent_firmware_is_detected_and_recovered():
    with start_simulator() as sim, Link(sim.path, config=FAST) as link:
        sim.toggle_mute()  # the UART hangs; the port stays open
        assert wait_until(lambda: not link.connected, 3.0)
        assert link.stats().disconnects == 1
        sim.toggle_mute()
        assert wait_until(lambda: link.connected, 3.0)
        assert link.stats().resets == 0  # same boot: not a reset
        assert moves(link)


def test_major_version_mismatch_is_refused_clearly():
    with start_simulator(protocol_v2=True) as sim:
        with pytest.raises(ProtocolVersionError, match=r"speaks bridge protocol 2\.0, this host speaks 1\.0"):
            Link(sim.path).open()


def test_exclusive_access_and_actionable_open_errors(tmp_path):
    with start_simulator() as sim, Link(sim.path) as link:
        assert link.connected
        with pytest.raises(LinkError, match="busy"):
            Link(sim.path, config=LinkConfig(open_timeout_s=0.5)).open()
    with pytest.raises(LinkError, match="no serial port at .*plugged in"):
        Link(str(tmp_path / "ttyNOPE"), config=LinkConfig(open_timeout_s=0.3)).open()
    with start_simulator() as sim:
        sim.toggle_mute()
        with pytest.raises(LinkError, match="no HELLO_ACK"):
            Link(sim.path, config=LinkConfig(open_timeout_s=0.5)).open()


def test_cli_ping_and_jog_against_the_simulator(capsys):
    from jepa_edge.cli import bridge as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    with start_simulator() as sim:
        assert cli.run(parser.parse_args(["ping", sim.path, "--count", "20"])) == 0
        out = capsys.readouterr().out
        assert "jepa-sim-1" in out and "20/20 answered" in out
        assert cli.run(parser.parse_args(["jog", sim.path, "0.5", "-0.5", "--seconds", "0.2"])) == 0
        assert "velocities [0.5, -0.5]" in capsys.readouterr().out


def test_link_seqs_increase_through_the_16_bit_wrap_and_a_rehandshake_says_hello_first():
    """The firmware ignores a COMMAND whose seq is not newer than the last frame it handled
    (PROTOCOL.md §6): the Link's seqs must keep increasing (mod 2^16) across its own wrap and
    across a re-handshake, whose HELLO opens the firmware's new window."""
    with start_simulator() as sim:
        link = Link(sim.path, config=FAST)
        link._tx_seq = 65528  # noqa: SLF001 (start just below the wrap)
        with link:
            seqs = []
            for i in range(8):
                seq = link.send_command((0.125 * (i % 4), -0.125), valid_ms=300)
                assert wait_until(lambda: (s := link.latest_state()) and s.last_cmd_seq == seq, 2.0), seq
                seqs.append(seq)
            assert 0 in seqs or min(seqs) < 100, seqs  # went through 65535 -> 0
            assert all(0 < (b - a) & 0xFFFF < 0x8000 for a, b in zip(seqs, seqs[1:])), seqs
            sim.toggle_mute()  # the firmware goes silent: the Link re-handshakes (HELLO) once it talks again
            assert wait_until(lambda: not link.connected, 3.0)
            sim.toggle_mute()
            assert wait_until(lambda: link.connected, 3.0)
            assert moves(link, (0.25, 0.25))

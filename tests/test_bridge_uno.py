"""The Arduino sketch on the host, against a model of the Uno's 64-byte Serial TX buffer
(firmware_bridge/test/arduino_stub/uno_sim.cpp): the core can emit more than 63 bytes at once
(ESTOP: ACK 15 + FAULT 17 + STATE 40 = 72 B), and every frame must still reach the wire whole."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jepa_edge.bridge.codec import Decoder, Frame, encode_frame
from jepa_edge.bridge.messages import (
    FLAG_ACK_REQ, AckMsg, CommandMsg, FaultCode, FaultMsg, HelloAckMsg, HelloMsg, EstopMsg, StateMsg, Status)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None or (shutil.which("g++") is None and shutil.which("c++") is None),
                                reason="needs make and a C++ compiler to build the sketch on the host")


@pytest.fixture(scope="module")
def uno_sim(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("uno")
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "firmware_bridge"), f"BUILD={build}", "uno-sim"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return build / "uno_sim"


def run(binary: Path, host_bytes: bytes, loops: int = 2000) -> list:
    r = subprocess.run([str(binary), host_bytes.hex(), str(loops)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr  # exit 3: the sketch called a Serial.write() that blocks on an Uno
    return [x.msg for x in Decoder().feed(bytes.fromhex(r.stdout.strip())) if isinstance(x, Frame)]


def test_estop_reply_reaches_the_wire_whole_on_a_64_byte_tx_buffer(uno_sim):
    host = (encode_frame(HelloMsg(7, 1000), 1) + encode_frame(CommandMsg(200, (0.5, 0.5)), 2)
            + encode_frame(EstopMsg(1), 3, FLAG_ACK_REQ))
    msgs = run(uno_sim, host, loops=1500)  # 30 ms: before the next periodic STATE (1000 ms)
    assert any(isinstance(m, HelloAckMsg) and m.nonce == 7 for m in msgs)
    i = next(i for i, m in enumerate(msgs) if isinstance(m, AckMsg) and m.acked_seq == 3)
    fault = msgs[i + 1]
    assert isinstance(fault, FaultMsg) and fault.code == FaultCode.ESTOP
    state = msgs[i + 2]  # the STATE the 64-byte buffer used to drop
    assert isinstance(state, StateMsg) and state.status & Status.ESTOP and state.velocities == (0.0, 0.0)

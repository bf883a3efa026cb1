"""Host side of the serial bridge to the robot's firmware (protocol: firmware_bridge/PROTOCOL.md).

    from jepa_edge.bridge import Link
    with Link("/dev/ttyACM0") as link:          # or a pty path, "socket://host:port", "loop://"
        link.send_command([0.2, -0.1], valid_ms=100)
        state = link.latest_state()

Modules, bottom up: crc (CRC-32C), cobs (framing), messages (layouts), codec (frames and the
byte-wise decoder), transport (pyserial by URL), link (reader thread, handshake, heartbeat,
reconnect), simulator (build and start the C firmware simulator on a pty), fuzz (corruptions).
"""
from jepa_edge.bridge.link import Link, LinkConfig, LinkEvent, LinkStats
from jepa_edge.bridge.messages import (
    PROTO_MAJOR, PROTO_MINOR, CommandMsg, EstopReason, FaultCode, HelloAckMsg, NackReason, StateMsg, Status)
from jepa_edge.bridge.simulator import SimulatorConfig, SimulatorProcess, start_simulator
from jepa_edge.bridge.transport import LinkError, ProtocolVersionError

__all__ = [
    "Link", "LinkConfig", "LinkEvent", "LinkStats", "LinkError", "ProtocolVersionError",
    "SimulatorConfig", "SimulatorProcess", "start_simulator",
    "PROTO_MAJOR", "PROTO_MINOR", "CommandMsg", "StateMsg", "HelloAckMsg", "Status", "NackReason", "FaultCode",
    "EstopReason",
]

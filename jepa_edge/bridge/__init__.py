"""Host side of the serial bridge to the robot's firmware (protocol: firmware_bridge/PROTOCOL.md).

    from jepa_edge.bridge import Link
    with Link("/dev/ttyACM0") as link:          # or a pty path, "socket://host:port", "loop://"
        link.send_command([0.2, -0.1], valid_ms=100)
        state = link.latest_state()

Modules, bottom up: crc (CRC-32C), cobs (framing), messages (layouts), codec (frames and the
byte-wise decoder), transport (pyserial by URL), link (reader thread, handshake, heartbeat,
reconnect), simulator (build and start the C firmware simulator on a pty), fuzz (corruptions).
"""
import importlib

# name -> module that defines it. Imported on first use: `robot.faults` needs only the message
# enums, and `jepa-edge run --help` should not start pyserial and the simulator to print its flags.
_EXPORTS = {
    **dict.fromkeys(("Link", "LinkConfig", "LinkEvent", "LinkStats"), "link"),
    **dict.fromkeys(("PROTO_MAJOR", "PROTO_MINOR", "CommandMsg", "EstopReason", "FaultCode", "HelloAckMsg",
                     "NackReason", "StateMsg", "Status"), "messages"),
    **dict.fromkeys(("SimulatorConfig", "SimulatorProcess", "start_simulator"), "simulator"),
    **dict.fromkeys(("LinkError", "ProtocolVersionError"), "transport"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jepa_edge.bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(f"jepa_edge.bridge.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)

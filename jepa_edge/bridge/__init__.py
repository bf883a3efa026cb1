"""Host side of the serial bridge to the robot's firmware (protocol: firmware_bridge/PROTOCOL.md).

    from jepa_edge.bridge import Link
    with Link("/dev/ttyACM0") as link:          # or a pty path, "socket://host:port", "loop://"
        link.send_command([0.2, -0.1], valid_ms=100)
        state = link.latest_state()

Modules, bottom up: crc (CRC-32C), cobs (framing), messages (layouts), codec (frames and the
byte-wise decoder), transport (pyserial by URL), link (reader thread, handshake, heartbeat,
reconnect), simulator (build and start the C firmware simulator on a pty), fuzz (corruptions).
"""

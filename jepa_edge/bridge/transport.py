"""Open a serial transport by URL the way pyserial does: "/dev/ttyACM0", a pty path,
"socket://host:port", "loop://", "spy://...". Framing lives in codec.py; this module only
opens ports, and turns pyserial's failures into errors that say what to do.
"""
from __future__ import annotations

import errno

import serial

from jepa_edge.errors import JepaEdgeError


class LinkError(JepaEdgeError):
    """The serial link cannot be opened or the firmware does not answer."""


class ProtocolVersionError(LinkError):
    """The firmware speaks another major protocol version: it was refused."""


def open_port(url: str, *, baudrate: int = 115200, exclusive: bool = True, low_latency: bool = True,
              read_timeout_s: float = 0.01) -> tuple[serial.SerialBase, bool]:
    """Open `url`; returns (port, low_latency_applied). Stale input is discarded.

    `exclusive` takes an advisory lock on a POSIX device (pyserial's flock), so a second
    process cannot interleave its bytes with ours. `low_latency` sets ASYNC_LOW_LATENCY on Linux
    USB-serial adapters (FTDI's 16 ms latency timer drops to 1 ms); ptys and CDC-ACM boards
    do not need it and the request is silently skipped there.
    """
    try:
        port = serial.serial_for_url(url, do_not_open=True, baudrate=baudrate, timeout=read_timeout_s,
                                     write_timeout=0.5, exclusive=exclusive)
        port.open()
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkError(_explain(url, e)) from None
    applied = False
    if low_latency and hasattr(port, "set_low_latency_mode"):
        try:
            port.set_low_latency_mode(True)
            applied = True
        except (ValueError, OSError, AttributeError):
            applied = False  # not a Linux serial driver (pty, socket, CDC-ACM on some kernels)
    try:
        port.reset_input_buffer()  # bytes that queued while nobody listened are stale
    except (serial.SerialException, OSError):
        pass
    return port, applied


def _explain(url: str, e: Exception) -> str:
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOENT or "No such file" in text:
        return (f"no serial port at {url}: is the board plugged in and powered? "
                "(list ports with `ls /dev/serial/by-id/` or `python -m serial.tools.list_ports`)")
    if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "exclusively lock" in text:
        return (f"serial port {url} is busy: another process has it open "
                "(close it, or find it with `fuser -v {url}`)".replace("{url}", url))
    if code == errno.EACCES:
        return (f"permission denied opening {url}: add your user to the 'dialout' group "
                "(`sudo usermod -aG dialout $USER`, then log in again)")
    return f"cannot open serial port {url}: {text}"

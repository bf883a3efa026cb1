"""Shared by the bridge tests that drive the compiled firmware simulator."""
import shutil
import time

import pytest

needs_cc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                              reason="no C compiler (gcc/cc): the firmware simulator cannot be built")


def wait_until(pred, timeout_s: float, step_s: float = 0.005):
    """Poll `pred` until it returns something truthy or `timeout_s` passes; return its last value."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step_s)
    return pred()

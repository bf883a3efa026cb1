"""Why the robot is stopped: fault kinds, stop reasons, and the one table to the firmware's ESTOP reasons.

Every stage of the loop that fails reports a `FaultKind`; the safety layer (loop/safety.py) decides
from the kind whether the run stops, and a stop reaches the robot as a `StopReason(kind, detail)`.
`Robot.safe_stop` sends `ESTOP_REASONS[reason.kind]` on the wire. Text is made from these values
(telemetry, reports), never parsed back into them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from jepa_edge.bridge.messages import EstopReason


class FaultKind(Enum):
    CAMERA = "camera"  # stalled or disconnected camera
    LATENT = "latent"  # NaN/Inf in the encoder output
    BACKEND = "backend"  # an inference session raised (encoder, planner's or surprise predictor)
    LINK = "link"  # the serial link to the firmware is lost
    PLANNER = "planner"  # no fresh plan within schedule.plan_timeout_ms
    SURPRISE = "surprise"  # the world did not do what the predictor expected (surprise.policy acts on it)
    INTERRUPT = "interrupt"  # Ctrl-C, SIGTERM
    LOOP_STALL = "loop_stall"  # a perception tick hung (the watchdog thread)
    INTERNAL = "internal"  # an exception nobody foresaw


@dataclass(frozen=True)
class StopReason:
    """Why the robot is told to stop: a fault of `kind`, or the run's normal end (`kind` None)."""

    kind: FaultKind | None
    detail: str = ""

    @property
    def estop(self) -> EstopReason:
        return ESTOP_REASONS[self.kind]

    def __str__(self) -> str:
        if self.kind is None:
            return self.detail or "end of run"
        return f"{self.kind.value}: {self.detail}" if self.detail else self.kind.value


END_OF_RUN = StopReason(None, "end of run")

# The one table: why the robot stops -> the ESTOP reason code the firmware latches (and echoes in FAULT).
ESTOP_REASONS: dict[FaultKind | None, EstopReason] = {
    None: EstopReason.SHUTDOWN,
    FaultKind.CAMERA: EstopReason.CAMERA,
    FaultKind.LATENT: EstopReason.NONFINITE,
    FaultKind.BACKEND: EstopReason.BACKEND,
    FaultKind.LINK: EstopReason.LINK,
    FaultKind.PLANNER: EstopReason.PLANNER,
    FaultKind.SURPRISE: EstopReason.SURPRISE,
    FaultKind.INTERRUPT: EstopReason.USER,
    FaultKind.LOOP_STALL: EstopReason.BACKEND,
    FaultKind.INTERNAL: EstopReason.BACKEND,
}

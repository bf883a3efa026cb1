"""The real-time app: loop, scheduler, safety, surprise, telemetry, perception, config and assembly."""

"""Evaluation probes: position probes, intuitive physics, teacher agreement, AC rollout, reports."""

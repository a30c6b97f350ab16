"""Background health monitoring of every service the bot talks to."""

from services.health.monitor import HealthMonitor, Probe, ProbeResult

__all__ = ["HealthMonitor", "Probe", "ProbeResult"]

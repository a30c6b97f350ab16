"""Background health monitoring of every service the bot talks to.

The probe registry (services.health.probes) is not imported here: it imports the service
packages, and those import the probe types from services.health.monitor.
"""

from services.health.history import HealthHistory
from services.health.monitor import HealthMonitor, Probe, ProbeResult, RecordedProbe

__all__ = ["HealthHistory", "HealthMonitor", "Probe", "ProbeResult", "RecordedProbe"]

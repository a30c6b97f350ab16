"""Background health monitoring: the monitor, its probe types and its history.

This package depends on no service package: the list of probes, which needs every service, is
wired in services/probes.py next to services/container.py.
"""

from services.health.history import HealthHistory
from services.health.monitor import HealthMonitor, Probe, ProbeResult, RecordedProbe

__all__ = ["HealthHistory", "HealthMonitor", "Probe", "ProbeResult", "RecordedProbe"]

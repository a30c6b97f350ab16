"""SQLite persistence: one connection, versioned migrations, one small repository per concern."""

from services.storage.cache import Cache, CacheStats
from services.storage.db import Database, StorageError
from services.storage.health import HealthStore, ServiceHealth

__all__ = ["Cache", "CacheStats", "Database", "HealthStore", "ServiceHealth", "StorageError"]

"""Persistence: one store interface per concern, with a SQLite and a PostgreSQL implementation.

services/storage/backend.py chooses the database and builds the stores; db.py is the SQLite
connection, postgres/database.py the PostgreSQL pool.
"""

from services.storage.cache import Cache, CacheStats
from services.storage.db import DATABASE_ERRORS, Database, StorageError
from services.storage.health import HealthStore, ServiceHealth

__all__ = ["DATABASE_ERRORS", "Cache", "CacheStats", "Database", "HealthStore", "ServiceHealth", "StorageError"]

"""The SQLite implementation of every store: one module per concern, only SQL and type conversion.

The contracts (and the logic both backends share) live with each concern; services/storage/postgres
mirrors this package file for file.
"""

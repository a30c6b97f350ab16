"""The PostgreSQL implementation of every store (asyncpg), for several processes on one database.

Mirrors services/storage/sqlite file for file; database.py is the pool, the migrations and the
listening connection, coordination.py the leader and the shard leases.
"""

"""The source, read only: connections under SQLite's authorizer, streaming rows in cursor order, counts."""

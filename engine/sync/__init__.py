"""Converging the tables to the source: the differ, the difference written, guarded writes."""

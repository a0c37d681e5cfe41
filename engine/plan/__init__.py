"""Mapping set + source -> an immutable plan: checks, estimates, hot partitions, reviewed plans."""

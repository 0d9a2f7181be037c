"""Metric definitions over the trace database, each written once in DuckDB SQL."""

"""Lambda entry points (one module per function; see README.md)."""

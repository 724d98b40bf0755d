"""Storage ports and their adapters (local: SQLite + LanceDB on disk; AWS: another issue)."""

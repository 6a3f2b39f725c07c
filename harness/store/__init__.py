"""The results store: one SQLite file, its schema, its reads and writes, and the typed shapes of its rows."""

"""The reproduction document's rows: each report's recipes beside its published figures, with provenance."""

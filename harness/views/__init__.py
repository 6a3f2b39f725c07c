"""Everything a person reads: rich tables, markdown, PNG figures and the consoles. Pure renderers, except console.py."""

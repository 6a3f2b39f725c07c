"""Untrusted text escaped for where it goes: a terminal, rich markup, markdown, HTML.

Labels, file and folder names, task names and ONNX metadata come from files anyone can write. In
a terminal an ESC starts a command (a window title, an OSC-8 link, a clear screen, a cursor move)
and a newline forges a line; in rich markup a `[` starts a style or a link; in markdown a `<`
starts HTML (script), a newline and `#` a heading, a `|` a table cell; in HTML a `<` starts a tag
and a `"` ends an attribute's value. Each function here makes
such text read as itself in one destination, and nothing else. No torch: `predict` imports it.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that change how the text around them is read rather than being read: C0 and C1
# controls and DEL (Cc), the Unicode line and paragraph separators, and the bidirectional
# overrides and isolates that reorder what is shown (a file name "photo\u202egpj.exe").
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # all that str.splitlines() splits at


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def _shown(char: str) -> str:
    """How one control character is written: `\\n`, `\\x1b`, `\\u202e`."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str, *, keep: str = "") -> str:
    """`text` with every control character (but those in `keep`) written out as `\\x1b`-style
    escapes, so it shows what it holds and does nothing."""
    return "".join(_shown(c) if c not in keep and _is_control(c) else c for c in text)


def has_controls(text: str) -> bool:
    return any(_is_control(c) for c in text)


def terminal(text: object) -> str:
    """For a terminal line: every control character, newlines included, as a visible escape."""
    return visible_controls(str(text))


def markup(text: object) -> str:
    """For a string that rich reads as markup (a table cell, an f-string passed to print): a
    terminal-safe text whose `[` can open no style and no link."""
    from rich.markup import escape

    return escape(terminal(text))


# Markdown: backslash first (it would escape our own escapes), then what CommonMark and GitHub
# read as syntax anywhere in a line: code, table cells, and a link or an image, which a `[` or
# `]` only makes as `](`, `][` or with its pair left open (so "95% CI [0.71, 0.74]" stays).
_MD_PUNCT = re.compile(r"[\\`|]|\](?=[(\[])|\[(?![^\]]*\])")
# Emphasis and strikethrough: a `*`, `_` or `~` with a space on both sides opens and closes
# nothing, nor does a `_` between two letters or digits (CommonMark's flanking rules), so
# "(pixel * scale - mean)", `val_acc` and `cnn4_bn` stay as they are; any other is escaped.
_MD_DELIMITER = re.compile(r"[*_~]")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# What opens a block when it starts a line (a quote's `>` is an entity by then): a heading, a
# list item, a numbered item, a thematic break or a setext underline ("---", "==="), and a link
# reference definition ("[label]: url"), which would make a later "[label]" a link.
_MD_BLOCK = re.compile(r"^(#|[-+=*\[]|\d+(?=[.)]))")


def _one_line(text: str) -> str:
    """Line breaks as spaces (a table row, a list item and a heading are one line each), then any
    other control character written out."""
    spaced = "".join(" " if c in _LINE_BREAKS else c for c in text)
    return visible_controls(spaced, keep="\t").replace("\t", " ")


def _inert(text: str, at: int) -> bool:
    before = text[at - 1] if at > 0 else " "
    after = text[at + 1] if at + 1 < len(text) else " "
    if before.isspace() and after.isspace():
        return True
    return text[at] == "_" and before.isascii() and before.isalnum() and after.isascii() and after.isalnum()


def _block_escaped(match: re.Match[str]) -> str:
    opener = match.group(0)
    return opener + "\\" if opener[0].isdigit() else "\\" + opener


def markdown(text: object, *, starts_line: bool = False) -> str:
    """For markdown and the HTML it becomes: one line of plain text. `<`, `>`, `&` as entities, no
    emphasis, code, link, strikethrough or table cell can start inside it, and with `starts_line`
    no heading, quote or list item either."""
    line = _one_line(str(text))
    line = _MD_PUNCT.sub(lambda m: "\\" + m.group(0), line)
    line = _MD_DELIMITER.sub(lambda m: m.group(0) if _inert(m.string, m.start()) else "\\" + m.group(0), line)
    if starts_line:  # indentation would open a code block; a number stays, its `.` or `)` is escaped
        line = _MD_BLOCK.sub(_block_escaped, line.lstrip())
    return "".join(_MD_ENTITIES.get(c, c) for c in line)


def code(text: object, *, cell: bool = False) -> str:
    """A markdown code span holding `text` as it is (entities are not decoded in code, so none
    are used): fenced with one more backtick than its longest run, on one line; `cell`: inside a
    table row, whose `|` GitHub splits on even in code."""
    line = _one_line(str(text))
    if cell:
        line = line.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}


def html(text: object) -> str:
    """For HTML text and quoted attribute values (`harness site`): `<`, `>`, `&` and both quotes as
    entities, so no tag, attribute or entity can start inside it; control characters written out
    (a bidi override would reorder what the page shows). Line breaks are kept: inside `<pre>` they
    are lines, elsewhere a space."""
    shown = visible_controls(str(text), keep="\n")
    return "".join(_HTML_ENTITIES.get(c, c) for c in shown)

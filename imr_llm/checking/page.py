"""The shell of a self-contained HTML page: inline CSS and script, and no network at all."""

from __future__ import annotations

from html import escape

# The policy forbids every fetch: a letter's text can never make the page load anything.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

BASE_CSS = """
:root { --ink: #1d2330; --muted: #667085; --line: #d8dde6; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: var(--bg); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
table { border-collapse: collapse; background: #fff; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px;
  border: 1px solid var(--line); background: #fff; white-space: nowrap; }
.badge.ok { background: #e3f6e6; border-color: #9bd3a5; }
.badge.needs_review { background: #fff1d6; border-color: #f0c36d; }
.badge.failed, .badge.not_imr { background: #fde2e2; border-color: #ee9a9a; }
.badge.upheld { background: #eef0f4; }
.badge.overturned { background: #dff3ff; border-color: #7cc2ee; font-weight: 600; }
"""


def esc(value: object) -> str:
    """Text made safe for HTML content and attribute values."""
    return escape(str(value), quote=True)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, in the plural unless n is 1: "1 item", "3 discrepancies"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def page(title: str, body: str, *, css: str = "", script: str = "") -> str:
    """A whole HTML document; ``body``, ``css`` and ``script`` must already be safe."""
    tag = f"<script>\n{script}\n</script>\n" if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n"
        f"<body>\n{body}\n{tag}</body>\n</html>\n"
    )

"""A tiny document model rendered twice: Markdown (report.md) and a self-contained HTML page (report.html).

Blocks: headings, paragraphs (with **bold**), bullet lists, tables, preformatted text and PNG figures. The
HTML page embeds figures as base64 data URIs and carries its own CSS, so it opens from anywhere.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    highlight_rows: set[int] = field(default_factory=set)


@dataclass
class Pre:
    text: str


@dataclass
class Figure:
    path: Path
    caption: str


Block = Heading | Paragraph | Bullets | TableBlock | Pre | Figure


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, blocks: list[Block], root: Path) -> str:
    """Markdown with figures linked relative to ``root`` (the report folder)."""
    out = [f"# {title}", ""]
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, TableBlock):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(b.header))) + "|")
            for i, row in enumerate(b.rows):
                cells = [_md_cell(c) for c in row]
                if i in b.highlight_rows:
                    cells = [f"**{c}**" if c else c for c in cells]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        elif isinstance(b, Pre):
            out += ["```", b.text.rstrip(), "```", ""]
        elif isinstance(b, Figure):
            rel = b.path.relative_to(root) if b.path.is_relative_to(root) else b.path
            out += [f"![{b.caption}]({rel})", "", f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #d62728;padding-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.hl td{background:#fff4e5;font-weight:600}
.caption{font-style:italic;color:#555;font-size:13px;margin:.2em 0}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.6em;font-size:12.5px;white-space:pre-wrap}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
code{background:#f3f3f3;padding:0 3px}
"""


_NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?%?$|^n/a$")


def _td(cell) -> str:
    text = str(cell)
    cls = ' class="num"' if text and _NUMBER.match(text) else ""
    return f"<td{cls}>{_inline(text)}</td>"


def to_html(title: str, blocks: list[Block]) -> str:
    """A standalone HTML page; figures are embedded as ``data:image/png;base64``."""
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, TableBlock):
            if b.caption:
                out.append(f'<p class="caption">{_inline(b.caption)}</p>')
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b.header)
            body = []
            for i, row in enumerate(b.rows):
                cls = ' class="hl"' if i in b.highlight_rows else ""
                body.append(f"<tr{cls}>" + "".join(_td(c) for c in row) + "</tr>")
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
        elif isinstance(b, Pre):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode()
            out.append(f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                       f'<figcaption class="caption">{_inline(b.caption)}</figcaption></figure>')
    out.append("</body></html>")
    return "\n".join(out)

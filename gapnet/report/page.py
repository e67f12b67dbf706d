"""Rendering a report's sections and figures to markdown and to one self-contained HTML page
(figures embedded as data URIs). A section is (title, note, header, rows): a table, or with
an empty header a paragraph (`rows[0][0]`)."""

from __future__ import annotations

import base64
import html
import os


def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(md_title: str, html_title: str, sections, figs) -> tuple[str, str]:
    """(markdown, HTML) of `sections` and `figs` ((caption, PNG path) pairs)."""
    md = [f"# {md_title}", ""]
    page = []
    for title, note, header, rows in sections:
        md += [f"## {title}", ""] + ([note, ""] if note else [])
        page.append(
            f"<h2>{html.escape(title)}</h2>" + (f"<p>{html.escape(note)}</p>" if note else "")
        )
        if header:
            md += [md_table(header, rows), ""]
            page.append(html_table(header, rows))
        else:
            md += [rows[0][0], ""]
            page.append(f"<p>{html.escape(rows[0][0])}</p>")
    md += ["## Figures", ""]
    page.append("<h2>Figures</h2>")
    for caption, path in figs:
        name = os.path.basename(path)
        md += [f"![{caption}]({name})", "", f"*{caption}*", ""]
        with open(path, "rb") as f:
            uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
        page.append(
            f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return "\n".join(md), HTML.format(title=html.escape(html_title), body="\n".join(page))


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figcaption {{ font-size: 13px; color: #555; }}
</style></head>
<body>
<h1>{title}</h1>
{body}
<script>
// Lets a headless browser check that every figure decoded (gapnet's render test).
window.addEventListener("load", () => {{
  const ok = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-images", ok + "/" + document.images.length);
}});
</script>
</body></html>
"""

"""Rendering a report's sections and figures to markdown and to one self-contained HTML page
(figures embedded as data URIs). A section is (title, note, header, rows): a table, or with
an empty header a paragraph (`rows[0][0]`); a fifth element, its own (caption, PNG path)
figures, drawn below it. In the HTML, `code` in backticks is set as <code>, every section
has an anchor (`anchor(title)`) listed in a table of contents under the title, and the
sections named in `collapsed` (the run's configuration) are folded in <details>."""

from __future__ import annotations

import base64
import html
import os
import re

FIGURES = "Figures"


def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def inline(text) -> str:
    """Escaped HTML of a markdown-ish string: `code` in backticks becomes <code>code</code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))


def anchor(title: str) -> str:
    """The section's HTML id: lower case, runs of anything but letters and digits -> '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def html_table(header, rows) -> str:
    head = "".join(f"<th>{inline(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures(figs) -> tuple[list[str], list[str]]:
    md, page = [], []
    for caption, path in figs:
        md += [f"![{caption}]({os.path.basename(path)})", "", f"*{caption}*", ""]
        with open(path, "rb") as f:
            uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
        page.append(
            f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{inline(caption)}</figcaption></figure>"
        )
    return md, page


def render(
    md_title: str,
    html_title: str,
    sections,
    figs,
    figures_at: int | None = None,
    collapsed=(),
) -> tuple[str, str]:
    """(markdown, HTML) of `sections` and `figs` ((caption, PNG path) pairs, drawn under a
    "Figures" heading placed before section `figures_at`, default after the last)."""
    blocks = [tuple(s) for s in sections]
    if figs:
        at = len(blocks) if figures_at is None else figures_at
        blocks.insert(at, (FIGURES, None, [], [], figs))
    md = [f"# {md_title}", ""]
    page, toc, seen = [], [], set()
    for block in blocks:
        title, note, header, rows = block[:4]
        own = block[4] if len(block) > 4 else []
        ident = anchor(title)
        while ident in seen:
            ident += "-x"
        seen.add(ident)
        toc.append(f'<a href="#{ident}">{inline(title)}</a>')
        md += [f"## {title}", ""] + ([note, ""] if note else [])
        body = [f"<p>{inline(note)}</p>"] if note else []
        if header:
            md += [md_table(header, rows), ""]
            body.append(html_table(header, rows))
        elif rows:
            md += [rows[0][0], ""]
            body.append(f"<p>{inline(rows[0][0])}</p>")
        fig_md, fig_html = _figures(own)
        md += fig_md
        body += fig_html
        if title in collapsed:
            page.append(
                f'<details id="{ident}"><summary><h2>{inline(title)}</h2></summary>'
                + "".join(body)
                + "</details>"
            )
        else:
            page.append(f'<h2 id="{ident}">{inline(title)}</h2>' + "".join(body))
    nav = '<nav class="toc">Contents: ' + " &middot; ".join(toc) + "</nav>"
    body = nav + "\n" + "\n".join(page)
    return "\n".join(md), HTML.format(title=html.escape(html_title), body=body)


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figcaption {{ font-size: 13px; color: #555; }}
code {{ background: #f3f3f3; padding: 0 3px; border-radius: 3px; }}
nav.toc {{ font-size: 14px; margin: 0 0 1em; line-height: 1.6; }}
summary h2 {{ display: inline; cursor: pointer; }}
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

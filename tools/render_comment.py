"""Render an `lbguard diff` PR comment as GitHub shows it, and screenshot it in headless Chromium.

    .venv/bin/lbguard diff base.json head.json -o comment.md
    .venv/bin/python tools/render_comment.py comment.md -o comment.png [--open] [--width 1012] [--html F]

The Markdown is rendered as GitHub Flavored Markdown (markdown-it-py: CommonMark, tables,
strikethrough, raw HTML such as ``<details>``), GitHub's alerts (``> [!CAUTION]``) as coloured
boxes, and ```` ```mermaid ```` blocks drawn by Mermaid itself (the npm package in
``tools/mermaid``, loaded from disk). Debian's ``chromium`` (``apt-get install -y chromium``)
takes the screenshot: headless, no sandbox, no GPU, no network, a fresh empty profile. No
browser is downloaded (Playwright's and Puppeteer's downloads are not reachable here).

``--open`` unfolds every ``<details>`` (the default shows the first screen a reviewer sees).
The page is laid out once to measure its height, then captured whole. Exit 0 and the PNG
written, or exit 2 with one line saying what is missing.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
MERMAID_JS = ROOT / "tools" / "mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
ALERTS = {"NOTE": ("Note", "#0969da"), "TIP": ("Tip", "#1a7f37"), "IMPORTANT": ("Important", "#8250df"),
          "WARNING": ("Warning", "#9a6700"), "CAUTION": ("Caution", "#d1242f")}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--mute-audio", "--disable-extensions"]

CSS = """
body { margin: 0; background: #fff; }
.comment { box-sizing: border-box; padding: 16px 24px; color: #1f2328; font: 14px/1.5 -apple-system,
  BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; border: 1px solid #d1d9e0;
  border-radius: 6px; margin: 8px; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin: 0 0 16px; }
h3 { font-size: 1.25em; margin: 24px 0 16px; }
p, ul, table, details, pre, blockquote, .markdown-alert { margin: 0 0 16px; }
ul { padding-left: 2em; }
code { font: 85% ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
  padding: .2em .4em; border-radius: 6px; }
table { border-collapse: collapse; display: block; max-width: 100%; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
details summary { cursor: pointer; }
blockquote { padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
.markdown-alert { padding: 8px 16px; border-left: .25em solid var(--c); }
.markdown-alert > :last-child { margin-bottom: 0; }
.markdown-alert-title { font-weight: 500; color: var(--c); margin-bottom: 4px; }
pre.mermaid { background: none; text-align: center; }
"""


def fail(message: str) -> None:
    print(f"render_comment: {message}", file=sys.stderr)
    raise SystemExit(2)


def _alerts(md: MarkdownIt) -> None:
    """GitHub's alert syntax: a blockquote whose first line is ``[!KIND]`` becomes a titled box."""
    def mark(state) -> None:
        tokens = state.tokens
        for i, tok in enumerate(tokens[:-2]):
            if tok.type != "blockquote_open" or tokens[i + 1].type != "paragraph_open":
                continue
            inline = tokens[i + 2]
            m = re.match(r"\[!(\w+)\]\s*(\n|$)", inline.content)
            if not m or m[1].upper() not in ALERTS:
                continue
            tok.meta["alert"] = m[1].upper()
            inline.content = inline.content[m.end():]
            children = inline.children or []
            while children and children[0].type in ("text", "softbreak") and \
                    (children[0].type == "softbreak" or re.fullmatch(r"\[!\w+\]\s*", children[0].content)):
                children.pop(0)
            depth = 0
            for close in tokens[i + 1:]:
                depth += close.type == "blockquote_open"
                if close.type == "blockquote_close":
                    if depth == 0:
                        close.meta["alert"] = tok.meta["alert"]
                        break
                    depth -= 1

    md.core.ruler.push("github_alerts", mark)

    def open_(self, tokens, idx, options, env):
        kind = tokens[idx].meta.get("alert")
        if not kind:
            return "<blockquote>\n"
        title, colour = ALERTS[kind]
        return (f'<div class="markdown-alert markdown-alert-{kind.lower()}" style="--c: {colour}">\n'
                f'<p class="markdown-alert-title">{title}</p>\n')

    def close(self, tokens, idx, options, env):
        return "</div>\n" if tokens[idx].meta.get("alert") else "</blockquote>\n"

    md.add_render_rule("blockquote_open", open_)
    md.add_render_rule("blockquote_close", close)


def to_html(markdown: str, *, open_details: bool, width: int) -> str:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    _alerts(md)
    fence = md.renderer.rules.get("fence")

    def mermaid_fence(self, tokens, idx, options, env):
        tok = tokens[idx]
        if tok.info.strip() == "mermaid":
            return f'<pre class="mermaid">{html.escape(tok.content)}</pre>\n'
        return fence(tokens, idx, options, env)

    md.add_render_rule("fence", mermaid_fence)
    body = md.render(markdown)
    if open_details:
        body = body.replace("<details>", "<details open>")
    script = MERMAID_JS.read_text()
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style>
<style>.comment {{ width: {width - 16}px; }}</style></head><body><div class="comment">{body}</div>
<script>{script}</script>
<script>
mermaid.initialize({{startOnLoad: false, securityLevel: "strict", theme: "default"}});
mermaid.run({{querySelector: "pre.mermaid"}}).catch(e => {{ document.body.dataset.error = String(e); }})
  .finally(() => {{ document.body.dataset.height = String(document.documentElement.scrollHeight); }});
</script></body></html>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    fail("no chromium on PATH (Debian: apt-get install -y chromium)")
    return ""


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def screenshot(page: Path, out: Path, width: int) -> int:
    """Lay the page out once to read its height (the page writes it into the DOM once Mermaid
    has drawn), then capture it whole. Returns the height."""
    with tempfile.TemporaryDirectory(prefix="lbguard-chromium-") as profile:
        dom = _run(["--virtual-time-budget=15000", f"--window-size={width},2000", "--dump-dom", page.as_uri()],
                   Path(profile))
        error = re.search(r'data-error="([^"]*)"', dom.stdout)
        if error:
            fail(f"Mermaid could not draw the diagram: {html.unescape(error[1])}")
        m = re.search(r'data-height="(\d+)"', dom.stdout)
        if not m:
            fail(f"chromium did not lay the page out (exit {dom.returncode}): {dom.stderr.strip()[-300:]}")
        height = int(m[1]) + 16
    with tempfile.TemporaryDirectory(prefix="lbguard-chromium-") as profile:
        shot = _run(["--virtual-time-budget=15000", f"--window-size={width},{height}", f"--screenshot={out}",
                     page.as_uri()], Path(profile))
    if shot.returncode != 0 or not out.is_file():
        fail(f"chromium wrote no screenshot (exit {shot.returncode}): {shot.stderr.strip()[-300:]}")
    return height


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("comment", type=Path, help="the Markdown of `lbguard diff`")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    ap.add_argument("--open", action="store_true", help="unfold every <details> section")
    ap.add_argument("--width", type=int, default=1012, help="page width in pixels (GitHub's comment column: 1012)")
    ap.add_argument("--html", type=Path, default=None, help="also keep the rendered HTML page here")
    args = ap.parse_args(argv)
    if not args.comment.is_file():
        fail(f"{args.comment}: no such file")
    if not MERMAID_JS.is_file():
        fail(f"{MERMAID_JS} missing: run `npm install` in tools/mermaid")
    page_html = to_html(args.comment.read_text(), open_details=args.open, width=args.width)
    with tempfile.TemporaryDirectory(prefix="lbguard-comment-") as tmp:
        page = Path(tmp) / "comment.html"
        page.write_text(page_html)
        if args.html:
            args.html.write_text(page_html)
        height = screenshot(page, args.output.resolve(), args.width)
    print(f"{args.output}: {args.width}x{height} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())

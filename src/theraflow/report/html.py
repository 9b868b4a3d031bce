"""A small builder for self-contained HTML reports.

Everything a report shows is inside the one file: CSS inline, images as inline SVG or
base64 PNG, scripts inline (no external links to fetch) — it opens anywhere, offline, and
can be mailed as an attachment. The page is a Jinja2 template (``templates/base.html.j2``, autoescaped);
text is escaped, only markup built here is trusted.

Interactive tables (the screening report's hits) use DataTables as shipped by the ``itables`` package
(its offline bundle: jQuery, DataTables, Buttons for the CSV download), gzip-compressed into the page and
unpacked by the browser (``DecompressionStream``): about 250 kB whatever the table holds.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import gzip
import html
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.etree import ElementTree

import jinja2
import pandas as pd
from markupsafe import Markup

from theraflow.io import atomic_write

CSS = """
:root { --fg: #1d2530; --muted: #5b6573; --line: #d9dee5; --accent: #2458a6; --warn: #b5462f; --bg: #ffffff; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { padding: 20px 32px; border-bottom: 3px solid var(--accent); }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .meta { color: var(--muted); font-size: 12px; }
nav#toc { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; position: sticky; top: 0; z-index: 1000;
      background: var(--bg); }
nav#toc a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
nav#toc a.sub { margin-right: 10px; font-size: 12px; }
main { padding: 8px 32px 40px 32px; max-width: 1400px; }
section { margin-top: 28px; }
html { scroll-padding-top: 96px; }  /* a section link lands below the sticky nav (set to its height on load) */
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #f3f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flag td { background: #fdf1ee; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.kpi .v { font-size: 20px; font-weight: 600; }
.kpi .l { color: var(--muted); font-size: 12px; }
.warn { color: var(--warn); font-weight: 600; }
.muted { color: var(--muted); }
tr.total td { font-weight: 600; border-top: 2px solid var(--muted); }
td.smiles { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; word-break: break-all; max-width: 360px; }
figure { margin: 10px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
.mol svg { display: block; }
table.hits-grid td.mol svg { width: 160px; height: 120px; }
table.hits-grid { width: 100%; }
.rejects-sentence { font-weight: 600; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { width: 300px; margin: 0; }
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


class HtmlReport:
    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[tuple[str, str, str]] = []  # (anchor, title, html)

    def add_section(self, title: str, body: str) -> None:
        anchor = "s" + str(len(self.sections) + 1)
        self.sections.append((anchor, title, body))

    # ------------------------------------------------------------ pieces
    @staticmethod
    def kpis(items: Iterable[tuple[str, object]]) -> str:
        cells = "".join(f'<div class="kpi"><div class="v">{esc(v)}</div><div class="l">{esc(k)}</div></div>'
                        for k, v in items)
        return f'<div class="kpis">{cells}</div>'

    @staticmethod
    def table(df: pd.DataFrame, *, raw_columns: Sequence[str] = (), row_class: Sequence[str] | None = None,
              css_class: str = "", floatfmt: str = "{:.3f}", max_rows: int | None = None) -> str:
        """An HTML table; columns in ``raw_columns`` hold trusted markup (e.g. drawings)."""
        shown = df if max_rows is None else df.head(max_rows)
        head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
        rows = []
        for i, (_, r) in enumerate(shown.iterrows()):
            cells = []
            for c in shown.columns:
                v = r[c]
                if c in raw_columns:
                    cells.append(f"<td class='mol'>{v}</td>")
                elif isinstance(v, float):
                    cells.append(f"<td class='num'>{esc(floatfmt.format(v))}</td>")
                elif isinstance(v, (int,)) and not isinstance(v, bool):
                    cells.append(f"<td class='num'>{v}</td>")
                else:
                    cls = " class='smiles'" if c == "smiles" else ""
                    cells.append(f"<td{cls}>{esc(v)}</td>")
            cls = f" class='{row_class[i]}'" if row_class is not None and row_class[i] else ""
            rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
        more = ""
        if max_rows is not None and len(df) > max_rows:
            more = f"<p class='muted'>{len(df) - max_rows} more rows in the table file.</p>"
        return f"<table class='{css_class}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"

    @staticmethod
    def png(data: bytes, alt: str, caption: str = "", width: int | None = None, palette: bool = False) -> str:
        """An inline PNG; ``palette``: re-encoded with 256 colours (plots and drawings: a third of the bytes)."""
        if palette:
            data = palette_png(data)
        b64 = base64.b64encode(data).decode("ascii")
        w = f' width="{width}"' if width else ""
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{b64}"{w}>{cap}</figure>'

    @staticmethod
    def figure(fig, alt: str, caption: str = "", dpi: int = 110, palette: bool = False) -> str:
        """A matplotlib figure as an inline PNG (the figure is closed)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return HtmlReport.png(buf.getvalue(), alt, caption, palette=palette)

    @staticmethod
    def pre(text: str) -> str:
        return f"<pre>{esc(text)}</pre>"

    # ------------------------------------------------------------ output
    def render(self, *, links: Sequence[tuple[str, str]] = (), head: str = "", scripts: Sequence[str] = ()) -> str:
        """The page. ``links``: extra (anchor, label) entries of the nav (sub-sections); ``head``: trusted
        markup for the head (styles); ``scripts``: trusted inline scripts, after the body."""
        from theraflow import __version__

        stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        return templates().get_template("base.html.j2").render(
            title=self.title, subtitle=self.subtitle, stamp=stamp, version=__version__, css=Markup(CSS),
            sections=[(a, t, Markup(h)) for a, t, h in self.sections], links=list(links), head=Markup(head),
            scripts=[Markup(x) for x in scripts])

    def write(self, path: str | Path, **render_args) -> Path:
        path = Path(path)
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(self.render(**render_args))
        return path


@functools.cache
def templates() -> jinja2.Environment:
    """The report templates (package data under ``theraflow/report/templates``), autoescaping HTML."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("theraflow.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["script_json"] = script_json
    return env


def script_json(value) -> Markup:
    """JSON for a ``<script type="application/json">`` element: nothing in it can close the element."""
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def palette_png(data: bytes, colors: int = 256) -> bytes:
    """A PNG re-encoded with a palette of ``colors`` (no dithering): the same picture for plots and drawings."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        q = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    q.save(out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def packed_json(value) -> str:
    """JSON, gzip-compressed and base64-encoded: what the page unpacks with ``DecompressionStream``."""
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), 9, mtime=0)).decode("ascii")


@functools.cache
def datatables_assets() -> dict[str, str]:
    """DataTables (with jQuery and Buttons) as the ``itables`` package ships it for offline pages: the script
    (an ES module) and its stylesheet, each gzip-compressed and base64-encoded (the page unpacks them)."""
    from importlib import metadata, resources

    root = resources.files("itables") / "html"
    out = {"version": metadata.version("itables")}
    for key, name in (("js", "dt_bundle.js"), ("css", "dt_bundle.css")):
        out[key] = base64.b64encode(gzip.compress((root / name).read_bytes(), 9, mtime=0)).decode("ascii")
    return out


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_LINES = re.compile(r"[ML0-9., -]+")
_SVG = "{http://www.w3.org/2000/svg}"


def _round(d: str) -> str:
    return _NUMBER.sub(lambda m: str(round(float(m.group()))), d)


def _style(el) -> dict[str, str]:
    return dict(kv.split(":", 1) for kv in (el.get("style") or "").split(";") if ":" in kv)


def mol_svg(smiles: str, width: int = 200, height: int = 150) -> str:
    """An RDKit 2D drawing as compact inline SVG markup (empty string if the SMILES does not parse).

    RDKit's own SVG spends ~9 kB on a drug-like molecule (a style string per bond half, glyph outlines for
    the atom labels); here the labels are text and the straight bond strokes are merged into one path per
    colour with whole-pixel coordinates: ~1.2 kB, the same picture at this size."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return ""
    rdDepictor.Compute2DCoords(mol)
    d = rdMolDraw2D.MolDraw2DSVG(width, height, -1, -1, True)  # noFreetype: atom labels as <text>
    opts = d.drawOptions()
    opts.clearBackground = False
    opts.bondLineWidth = 1.5
    d.DrawMolecule(mol)
    d.FinishDrawing()
    root = ElementTree.fromstring(d.GetDrawingText().encode("utf-8"))
    strokes: dict[tuple, list[str]] = {}
    rest = []
    for el in root:
        tag = el.tag.removeprefix(_SVG)
        st = _style(el)
        if tag == "path" and st.get("fill") == "none" and _LINES.fullmatch(el.get("d", "")):
            key = (st.get("stroke", "#000000"), st.get("stroke-width", "1.5px"), st.get("stroke-dasharray"))
            strokes.setdefault(key, []).append(_round(el.get("d", "")).replace(" ", ""))
        elif tag == "path":  # wedges, filled shapes
            stroke = st.get("stroke", "none")
            rest.append(f"<path d='{_round(el.get('d', ''))}' fill='{esc(st.get('fill', '#000000'))}'"
                        + (f" stroke='{esc(stroke)}'" if stroke != "none" else "") + "/>")
        elif tag == "text":
            rest.append(f"<text x='{_round(el.get('x', '0'))}' y='{_round(el.get('y', '0'))}' "
                        f"fill='{esc(st.get('fill', '#000000'))}' font-size='{esc(st.get('font-size', '12px'))}' "
                        f"text-anchor='{esc(st.get('text-anchor', 'start'))}'>{esc(el.text)}</text>")
        elif tag in ("ellipse", "circle", "polygon", "polyline", "line"):
            attrs = " ".join(f"{k}='{esc(_round(v) if k in ('cx', 'cy', 'rx', 'ry', 'r', 'points') else v)}'"
                             for k, v in el.attrib.items() if k != "class")
            rest.append(f"<{tag} {attrs}/>")
        # <rect> (the background, off), <metadata>, comments: dropped
    paths = "".join(f"<path d='{''.join(v)}' stroke='{esc(k[0])}' stroke-width='{esc(k[1])}'"
                    + (f" stroke-dasharray='{esc(k[2])}'" if k[2] else "") + "/>" for k, v in strokes.items())
    return (f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{esc(smiles)}' "
            f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' fill='none'>{paths}"
            f"<g stroke='none' font-family='sans-serif'>{''.join(rest)}</g></svg>")

"""A small builder for self-contained HTML reports.

Everything a report shows is inside the one file: CSS inline, images as inline SVG or
base64 PNG, no scripts, no external links to fetch — it opens anywhere, offline, and
can be mailed as an attachment. Text is escaped; only markup built here is trusted.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from theraflow.io import atomic_write

CSS = """
:root { --fg: #1d2530; --muted: #5b6573; --line: #d9dee5; --accent: #2458a6; --warn: #b5462f; --bg: #ffffff; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { padding: 20px 32px; border-bottom: 3px solid var(--accent); }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .meta { color: var(--muted); font-size: 12px; }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { padding: 8px 32px 40px 32px; max-width: 1400px; }
section { margin-top: 28px; }
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
.smiles { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; word-break: break-all; max-width: 360px; }
figure { margin: 10px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
.mol svg { display: block; }
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
    def png(data: bytes, alt: str, caption: str = "", width: int | None = None) -> str:
        b64 = base64.b64encode(data).decode("ascii")
        w = f' width="{width}"' if width else ""
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{b64}"{w}>{cap}</figure>'

    @staticmethod
    def figure(fig, alt: str, caption: str = "", dpi: int = 110) -> str:
        """A matplotlib figure as an inline PNG (the figure is closed)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return HtmlReport.png(buf.getvalue(), alt, caption)

    @staticmethod
    def pre(text: str) -> str:
        return f"<pre>{esc(text)}</pre>"

    # ------------------------------------------------------------ output
    def render(self) -> str:
        nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in self.sections)
        body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{h}</section>' for a, t, h in self.sections)
        stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        from theraflow import __version__

        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(self.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(self.title)}</h1><div class='meta'>{esc(self.subtitle)} — "
            f"generated {esc(stamp)} by theraflow {esc(__version__)}</div></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(self.render())
        return path


def mol_svg(smiles: str, width: int = 220, height: int = 160) -> str:
    """An RDKit 2D drawing as inline SVG markup (empty string if the SMILES does not parse)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return ""
    rdDepictor.Compute2DCoords(mol)
    d = rdMolDraw2D.MolDraw2DSVG(width, height)
    d.drawOptions().clearBackground = False
    d.DrawMolecule(mol)
    d.FinishDrawing()
    svg = d.GetDrawingText()
    svg = svg[svg.find("<svg"):]  # drop the XML declaration: the SVG sits inside HTML
    return svg.replace("<svg ", f'<svg role="img" aria-label="{esc(smiles)}" ', 1)

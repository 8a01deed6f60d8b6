"""The figures folder as one page: ``DIR/index.html``, written by ``rmlab reproduce``.

One self-contained HTML file (inline CSS, no JavaScript, no network): a summary table with one row per figure, then
per figure its PNG (referenced by file name, next to the page), its notebook, its pass criteria as a table (value, op,
threshold, pass/fail; failing rows in red and listed at the top) and the paper's numbers where the figure's JSON
records them: a ``data`` entry named ``paper`` (a mapping of name to number or text) or any ``data`` entry whose name
starts with ``paper_``.

>>> import tempfile, json
>>> out = Path(tempfile.mkdtemp())
>>> _ = (out / "demo.png").write_bytes(b"")
>>> _ = (out / "demo.json").write_text(json.dumps({"figure": "demo", "notebook": "00_tour", "seed": 0,
...     "quick": True, "data": {"paper_variance": 0.25},
...     "criteria": [{"name": "v > 0", "value": -1.0, "op": ">", "threshold": 0.0, "passed": False}]}))
>>> page = write_gallery(out).read_text()
>>> 'src="demo.png"' in page and 'class="fail"' in page and "paper_variance" in page
True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from rmlab._io import atomic_write_text

INDEX = "index.html"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; background: #fff; }
h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f1f1f1; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fde2e2; color: #8b0000; font-weight: bold; } tr.pass td.verdict { color: #1b6e1b; }
.banner { padding: .6em 1em; border-radius: 4px; margin: 1em 0; }
.banner.fail { background: #fde2e2; color: #8b0000; border: 2px solid #c00; }
.banner.pass { background: #e3f4e3; color: #1b6e1b; border: 1px solid #1b6e1b; }
section.figure.failing { border-left: 6px solid #c00; padding-left: 1em; }
img { max-width: 100%; border: 1px solid #ddd; } .meta { color: #555; }
"""


@dataclass
class Figure:
    name: str
    notebook: str
    png: str
    record: dict[str, Any]

    @property
    def criteria(self) -> list[dict[str, Any]]:
        return self.record.get("criteria", [])

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.criteria if not c["passed"]]

    @property
    def paper_numbers(self) -> dict[str, Any]:
        data = self.record.get("data", {})
        numbers = dict(data["paper"]) if isinstance(data.get("paper"), dict) else {}
        numbers.update({k: v for k, v in data.items() if k.startswith("paper_")})
        return numbers


def read_figures(out: Path) -> list[Figure]:
    """Every figure record (``<name>.json`` following :mod:`rmlab.figures`' schema) in ``out``, by name."""
    figures = []
    for path in sorted(Path(out).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and {"figure", "notebook", "criteria"} <= set(record):
            figures.append(Figure(record["figure"], record["notebook"], f"{path.stem}.png", record))
    return figures


def write_gallery(out: str | os.PathLike, notebooks_dir: str | os.PathLike | None = None) -> Path:
    """Write ``out/index.html`` over every figure in ``out``; link each notebook into ``notebooks_dir`` when its
    ``.ipynb`` is there. Returns the page's path."""
    out = Path(out)
    figures = read_figures(out)
    body = [_header(figures), _summary(figures)] + [_section(f, out, notebooks_dir) for f in figures]
    html = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rmlab figures</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    return atomic_write_text(out / INDEX, html)


def _header(figures: list[Figure]) -> str:
    failing = [f for f in figures if f.failures]
    n_criteria = sum(len(f.criteria) for f in figures)
    n_failed = sum(len(f.failures) for f in failing)
    if failing:
        links = ", ".join(f'<a href="#{_anchor(f)}">{escape(f.name)}</a>' for f in failing)
        banner = (f'<div class="banner fail"><strong>{n_failed} of {n_criteria} criteria FAIL</strong> '
                  f"in {len(failing)} figure(s): {links}</div>")
    else:
        banner = f'<div class="banner pass">All {n_criteria} criteria of {len(figures)} figure(s) pass.</div>'
    return f"<h1>rmlab figures</h1>\n{banner}"


def _summary(figures: list[Figure]) -> str:
    rows = "".join(
        f'<tr class="{"fail" if f.failures else "pass"}"><td><a href="#{_anchor(f)}">{escape(f.name)}</a></td>'
        f"<td>{escape(f.notebook)}</td><td class=\"num\">{len(f.criteria) - len(f.failures)}/{len(f.criteria)}</td>"
        f"<td class=\"verdict\">{'FAIL' if f.failures else 'pass'}</td></tr>" for f in figures)
    return ("<table><tr><th>figure</th><th>notebook</th><th>criteria passed</th><th>verdict</th></tr>"
            f"{rows}</table>")


def _section(figure: Figure, out: Path, notebooks_dir) -> str:
    record = figure.record
    meta = (f"notebook {_notebook_link(figure.notebook, out, notebooks_dir)} · seed {escape(str(record.get('seed')))}"
            f" · {'quick' if record.get('quick') else 'full'} mode")
    image = (f'<img src="{escape(figure.png)}" alt="figure {escape(figure.name)}">' if (out / figure.png).exists()
             else f'<p class="banner fail">missing image {escape(figure.png)}</p>')
    parts = [f'<section class="figure{" failing" if figure.failures else ""}" id="{_anchor(figure)}">',
             f"<h2>{escape(figure.name)}</h2>", f'<p class="meta">{meta}</p>', image, _criteria_table(figure)]
    if figure.paper_numbers:
        parts.append(_paper_table(figure.paper_numbers))
    return "\n".join(parts + ["</section>"])


def _criteria_table(figure: Figure) -> str:
    if not figure.criteria:
        return "<p>No pass criteria recorded.</p>"
    rows = "".join(
        f'<tr class="{"pass" if c["passed"] else "fail"}"><td>{escape(c["name"])}{_relaxation(c)}</td>'
        f'<td class="num">{_number(c["value"])}</td><td>{escape(c["op"])}</td>'
        f'<td class="num">{_number(c["threshold"])}</td>'
        f'<td class="verdict">{"pass" if c["passed"] else "FAIL"}</td></tr>' for c in figure.criteria)
    return ("<h3>Pass criteria</h3><table><tr><th>criterion</th><th>value</th><th>op</th><th>threshold</th>"
            f"<th>result</th></tr>{rows}</table>")


def _relaxation(criterion: dict[str, Any]) -> str:
    """The reason a quick-mode run does not hold a criterion to its full-mode bar, as a note under its name."""
    if "quick_relaxed" not in criterion:
        return ""
    return f'<br><small>relaxed in quick mode: {escape(criterion["quick_relaxed"])}</small>'


def _paper_table(numbers: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td class=\"num\">{_number(v)}</td></tr>" for k, v in numbers.items())
    return f"<h3>The paper's numbers</h3><table><tr><th>quantity</th><th>paper</th></tr>{rows}</table>"


def _notebook_link(notebook: str, out: Path, notebooks_dir) -> str:
    if notebooks_dir is not None and (Path(notebooks_dir) / f"{notebook}.ipynb").exists():
        href = os.path.relpath(Path(notebooks_dir).resolve() / f"{notebook}.ipynb", out.resolve())
        return f'<a href="{escape(Path(href).as_posix())}">{escape(notebook)}</a>'
    return escape(notebook)


def _number(value: Any) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, float):
        return escape(f"{value:.6g}")
    return escape(json.dumps(value) if isinstance(value, (list, dict)) else str(value))


def _anchor(figure: Figure) -> str:
    return escape(f"fig-{figure.name}")

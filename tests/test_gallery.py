"""The gallery page ``rmlab reproduce`` writes (``DIR/index.html``): every figure's PNG referenced and present, the
criteria and the paper's numbers on the page, failures marked, no network or script, and a page Chromium draws."""

import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from test_browser_notebooks import browser, is_blank  # noqa: F401  (browser is a fixture)
from test_foundation_reproduce import write_notebook

from rmlab.cli import main
from rmlab.figures import FigureRecord
from rmlab.gallery import INDEX, write_gallery


class Page(HTMLParser):
    """The tags of a page, by name, with their attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def attrs(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def save_figure(out: Path, name: str, value: float, **data) -> None:
    rec = FigureRecord(name, notebook=f"nb_{name}", seed=0, quick=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, value])
    rec.add_data(**data)
    rec.check("value is positive", value, ">", 0.0)
    rec.save(fig, out)
    plt.close(fig)


@pytest.fixture
def figures(tmp_path):
    out = tmp_path / "figs"
    save_figure(out, "good", 2.0, paper={"accuracy": 0.71})
    save_figure(out, "bad", -1.5, paper_variance=0.03)
    (out / "unrelated.json").write_text('["not a figure record"]')
    return out


def test_every_figure_png_is_referenced_and_exists(figures):
    page = Page(write_gallery(figures).read_text())
    images = {a["src"] for a in page.attrs("img")}
    assert images == {"good.png", "bad.png"}
    assert all((figures / src).is_file() for src in images)


def test_the_page_needs_no_network_and_no_script(figures):
    text = write_gallery(figures).read_text()
    page = Page(text)
    assert not page.attrs("script") and not page.attrs("link")
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text)


def test_criteria_paper_numbers_and_failures_are_on_the_page(figures):
    text = write_gallery(figures).read_text()
    for cell in ("value is positive", "-1.5", "&gt;", "0.71", "paper_variance", "0.03"):
        assert cell in text
    failing = re.findall(r'<tr class="fail"><td>([^<]*)</td><td class="num">([^<]*)</td>', text)
    assert failing == [("value is positive", "-1.5")]
    assert "1 of 2 criteria FAIL" in text and 'href="#fig-bad"' in text
    assert 'section class="figure failing" id="fig-bad"' in text
    assert 'section class="figure" id="fig-good"' in text


def test_a_quick_relaxation_is_shown_under_its_criterion(tmp_path):
    rec = FigureRecord("relaxed", notebook="nb", seed=0, quick=True)
    rec.check("gain <x> enough", 0.1, ">", 0.5, quick_relaxed="40 steps & no more")
    fig, ax = plt.subplots()
    rec.save(fig, tmp_path)
    plt.close(fig)
    text = write_gallery(tmp_path).read_text()
    assert ("gain &lt;x&gt; enough<br><small>relaxed in quick mode: 40 steps &amp; no more</small></td>"
            '<td class="num">0.1</td>') in text


def test_all_passing_says_so(tmp_path):
    save_figure(tmp_path, "good", 1.0)
    text = write_gallery(tmp_path).read_text()
    assert "All 1 criteria of 1 figure(s) pass." in text and 'class="fail"' not in text


def test_reproduce_writes_the_gallery_linking_the_notebooks(tmp_path):
    notebooks, out = tmp_path / "notebooks", tmp_path / "figs"
    notebooks.mkdir()
    write_notebook(notebooks, "good", 1.0)
    write_notebook(notebooks, "bad", -1.0)
    assert main(["reproduce", "--out", str(out), "--notebooks", str(notebooks)]) == 1
    page = Page((out / INDEX).read_text())
    assert {a["src"] for a in page.attrs("img")} == {"tiny_good.png", "tiny_bad.png"}
    links = {a["href"] for a in page.attrs("a") if not a["href"].startswith("#")}
    assert links == {"../notebooks/good.ipynb", "../notebooks/bad.ipynb"}
    assert all((out / href).resolve().is_file() for href in links)


def test_chromium_draws_the_page(figures, browser, tmp_path):  # noqa: F811
    page = write_gallery(figures)
    browser.get(page.resolve().as_uri())
    assert browser.title == "rmlab figures"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    assert sorted(images) == [["bad.png", True], ["good.png", True]]
    shot = tmp_path / "gallery.png"
    browser.save_screenshot(str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGBA"))
    assert not is_blank(pixels)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.any(), "the failing criteria's red marking is not drawn"

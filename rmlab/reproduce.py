"""``rmlab reproduce``: execute the notebooks headless and collect every figure with the numbers behind it.

Each notebook writes its figures itself (``<name>.png`` + ``<name>.json``, see :mod:`rmlab.figures`) into the folder
given by ``$RMLAB_FIGURES_DIR``, which this command sets from ``--out``. A notebook saves its figures before its final
``assert`` cell, so a failing criterion still leaves its numbers on disk; the command then exits non-zero, naming the
notebook and the cell. Whatever the notebooks' outcome, it then writes ``--out/index.html``, a page over every figure
in the folder (see :mod:`rmlab.gallery`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rmlab.errors import UserError, check_int_range, check_writable_dir
from rmlab.figures import REPO_ROOT
from rmlab.gallery import write_gallery

DEFAULT_NOTEBOOKS = REPO_ROOT / "notebooks"
DEFAULT_OUT = REPO_ROOT / "figures"


@dataclass
class NotebookResult:
    name: str
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def available_notebooks(notebooks_dir: Path) -> dict[str, Path]:
    """Map each notebook's file stem (e.g. ``00_tour``) to its path."""
    if not notebooks_dir.is_dir():
        raise UserError(f"notebooks folder not found: {notebooks_dir}")
    return {p.stem: p for p in sorted(notebooks_dir.glob("*.ipynb"))}


def select_notebooks(notebooks_dir: Path, only: list[str] | None) -> list[Path]:
    found = available_notebooks(notebooks_dir)
    if not found:
        raise UserError(f"no notebooks (*.ipynb) in {notebooks_dir}")
    if not only:
        return list(found.values())
    unknown = [name for name in only if name not in found]
    if unknown:
        raise UserError(f"unknown notebook name(s) for --only: {', '.join(unknown)}. "
                             f"Available: {', '.join(found)}")
    return [found[name] for name in dict.fromkeys(only)]          # a name given twice runs once


def run_notebook(path: Path, *, timeout: int, env: dict[str, str] | None = None) -> NotebookResult:
    """Execute one notebook cell by cell with a progress bar, its kernel started with ``env`` (default: this
    process's environment)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from tqdm.auto import tqdm

    start = time.perf_counter()
    nb = read_notebook(path)
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with tqdm(total=len(code_cells), desc=path.stem, unit="cell", file=sys.stderr) as bar, \
            tempfile.TemporaryDirectory(prefix="rmlab-kernel-") as sockets:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=_kernel_config(sockets),
                                shutdown_kernel="immediate",  # a timed-out cell is not waited for
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            with client.setup_kernel(env=dict(os.environ) if env is None else env):
                for number, (index, cell) in enumerate(code_cells, start=1):
                    client.execute_cell(cell, index)
                    bar.update()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            where = f"code cell {number} of {len(code_cells)} (cell index {index})"
            timed_out = isinstance(exc, CellTimeoutError)
            why = f"timed out after {timeout} s (--timeout)" if timed_out else _error_summary(exc)
            return NotebookResult(path.stem, time.perf_counter() - start, f"{where}: {why}")
    return NotebookResult(path.stem, time.perf_counter() - start)


def read_notebook(path: Path):
    """The notebook at ``path`` (nbformat 4), or a :class:`~rmlab.errors.UserError` naming a malformed file."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises NotJSONError, ValidationError, UnicodeDecodeError, KeyError, ...
        raise UserError(f"notebook {path} cannot be read ({type(err).__name__}: {str(err).strip()[:200]})") from err


def _kernel_config(sockets: str):
    """Kernel over Unix sockets in ``sockets`` where available (no open TCP port, and no "running over TCP without
    encryption" warning per notebook); the client still owns the kernel and shuts it down."""
    from traitlets.config import Config

    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})


def _error_summary(exc: Exception) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}" if evalue else ename
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def figure_summaries(out: Path, since: float) -> list[str]:
    """One line per figure JSON written since ``since``: name, notebook, criteria passed."""
    lines = []
    for path in sorted(out.glob("*.json")):
        if path.stat().st_mtime < since:
            continue
        record = json.loads(path.read_text())
        criteria = record.get("criteria", [])
        passed = sum(c["passed"] for c in criteria)
        lines.append(f"  {record['figure']:<28} {record['notebook']:<28} criteria {passed}/{len(criteria)} passed")
    return lines


def reproduce(only: list[str] | None = None, *, quick: bool = False, out: Path = DEFAULT_OUT,
              notebooks_dir: Path = DEFAULT_NOTEBOOKS, timeout: int = 3600) -> list[NotebookResult]:
    """Run the selected notebooks (all by default) and return one result per notebook. Arguments and every selected
    notebook are checked before the first one runs."""
    check_int_range(timeout, "--timeout", minimum=1)
    paths = select_notebooks(Path(notebooks_dir), only)
    for path in paths:
        read_notebook(path)
    out = check_writable_dir(out, "--out").resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {"MPLBACKEND": "Agg", **os.environ, "RMLAB_FIGURES_DIR": str(out), "RMLAB_QUICK": "1" if quick else "0",
           "RMLAB_HEADLESS": "1"}          # no ipywidgets in the kernels (see rmlab._headless)
    try:
        return [run_notebook(path, timeout=timeout, env=env) for path in paths]
    finally:
        write_gallery(out, notebooks_dir)


def _run(args: argparse.Namespace) -> int:
    start = time.time()
    results = reproduce(args.only, quick=args.quick, out=Path(args.out), notebooks_dir=Path(args.notebooks),
                        timeout=args.timeout)
    print(f"\nFigures in {Path(args.out).resolve()}:")
    print("\n".join(figure_summaries(Path(args.out), start)) or "  (none written)")
    print(f"Gallery: {Path(args.out).resolve() / 'index.html'}")
    failed = [r for r in results if not r.ok]
    for r in results:
        print(f"  {r.name:<28} {'ok' if r.ok else 'FAILED':<7} {r.seconds:7.1f} s")
    for r in failed:
        print(f"rmlab reproduce: notebook {r.name} failed at {r.error}", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="regenerate figures by executing the notebooks headless",
        description="Execute the notebooks headless and write, for every figure, OUT/<figure>.png and "
                    "OUT/<figure>.json (the plotted numbers and each pass criterion with its measured value), then "
                    "OUT/index.html, one self-contained page over every figure in OUT. "
                    "Exits non-zero if a notebook fails, naming the notebook and the cell; figures are saved before "
                    "a notebook's final asserts, so a failed criterion still leaves its numbers.",
    )
    p.add_argument("--quick", action="store_true",
                   help="small configuration (RMLAB_QUICK=1, what CI runs): same criteria, smaller sweeps")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                   help="run only these notebooks, by file stem (e.g. 00_tour 02_accuracy_is_not_enough; repeating "
                        "--only adds to the list)")
    p.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR", help="output folder (default: figures/)")
    p.add_argument("--notebooks", default=str(DEFAULT_NOTEBOOKS), metavar="DIR",
                   help="folder holding the notebooks (default: the repository's notebooks/)")
    p.add_argument("--timeout", type=int, default=3600, metavar="S", help="per-cell timeout in seconds (>= 1)")
    p.set_defaults(func=_run, resume_hint="rerun the command to run the notebooks again (--only NAME ... for some)")

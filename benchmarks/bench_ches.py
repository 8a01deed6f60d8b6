"""CHES over many preference pairs: rmlab's batched, last-layer-only scorer vs the official per-example loop.

* rmlab: ``rmlab.lm.ches.ches_scores`` -- tokenise everything (batched), chosen + rejected of ``--batch-size`` pairs
  in one padded forward of the backbone (last layer only), float64 sums, edit distances;
* reference: one pair at a time, unpadded, the full causal LM with ``output_hidden_states=True`` (every layer kept),
  hidden states of the last layer from the last prompt token on, as the official
  ``compute_preference_similarity_per_example.py`` does;
* bare forward: the very batches rmlab fed to the backbone (recorded during its run), replayed with nothing else.

Times are the best of 3 runs (2 with --quick) after a warm-up. Checks: rmlab's CHES, LN-CHES and last-hidden inner products equal the reference to rel. 1e-5 (float32 forwards of
different batch shapes; the tolerance is relative to each column's scale). Prints the speed ratio vs the reference
(target >= 10x on CPU), the ratio to the bare forward (target <= 1.25x) and the peak memory growth of each method
(resident set size sampled every 2 ms on CPU; ``torch.cuda.max_memory_allocated`` on GPU).

Usage: ``python benchmarks/bench_ches.py [--quick] [--device cuda] [--threads N]`` (under 2 minutes on one CPU
thread). Model: a random GPT-NeoX (Pythia's architecture), d=128, 4 layers; responses of 10-40 tokens.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_models import random_pairs, save_causal_lm  # noqa: E402

import rmlab.lm.ches as lm_ches  # noqa: E402
from rmlab.lm.load import load_causal_lm  # noqa: E402


class PeakMemory:
    """Peak growth of resident memory (CPU, sampled) or of allocated CUDA memory while the block runs, in MiB."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mib = device, 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base, self.peak, self.running = self._rss(), self._rss(), True
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        return self

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mib = (torch.cuda.max_memory_allocated() - self.base) / 2 ** 20
        else:
            self.running = False
            self.thread.join()
            self.peak_mib = (max(self.peak, self._rss()) - self.base) / 2 ** 20


@torch.no_grad()
def reference_loop(model, tokenizer, pairs) -> np.ndarray:
    """[n, 3] CHES, LN-CHES, last-hidden inner product, one pair at a time with every layer's hidden states."""
    device = next(model.parameters()).device
    out = []
    for pair in pairs:
        prompt_ids = tokenizer(pair["prompt"])["input_ids"]
        hidden = []
        for response in (pair["chosen"], pair["rejected"]):  # text without EOS: keep hidden[len(prompt) - 1:]
            ids = prompt_ids + tokenizer(response, add_special_tokens=False)["input_ids"]
            states = model(torch.tensor([ids], device=device), output_hidden_states=True).hidden_states
            hidden.append(states[-1][0, len(prompt_ids) - 1:].double())
        (h_pos, h_neg), (n_pos, n_neg) = hidden, (len(hidden[0]), len(hidden[1]))
        s_pos, s_neg = h_pos.sum(0), h_neg.sum(0)
        out.append([(s_pos @ s_neg - s_pos @ s_pos).item(),
                    (s_pos @ s_neg / (n_pos * n_neg) - s_pos @ s_pos / n_pos ** 2).item(),
                    (h_pos[-1] @ h_neg[-1]).item()])
    return np.array(out)


def timed(fn, device, repeats: int):
    """``(result, best wall time over the repeats, peak memory growth of the first repeat in MiB)``."""
    times, peaks = [], []
    for _ in range(repeats):
        with PeakMemory(device) as memory:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        peaks.append(memory.peak_mib)
    return result, min(times), peaks[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="512 pairs instead of 1024")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass in rmlab")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_pairs = 512 if args.quick else 1024

    with tempfile.TemporaryDirectory() as folder:
        save_causal_lm(folder, "gpt_neox", hidden=128, layers=4, context=256, seed=0)
        model, tokenizer = load_causal_lm(folder, device=device)
    pairs = random_pairs(n_pairs, seed=0, min_words=10, max_words=40)
    lengths = [len(tokenizer(p[k], add_special_tokens=False)["input_ids"]) for p in pairs
               for k in ("chosen", "rejected")]
    print(f"{n_pairs} pairs, GPT-NeoX d=128 x 4 layers, response lengths {min(lengths)}-{max(lengths)} tokens "
          f"(mean {np.mean(lengths):.1f}), device {device}, {torch.get_num_threads()} CPU thread(s), "
          f"batch {args.batch_size} pairs")

    recorded = []                           # the exact backbone inputs of rmlab's run, for the bare-forward replay
    original_forward = lm_ches.last_hidden_state

    def recording_forward(model_, *inputs):
        recorded.append(inputs)
        return original_forward(model_, *inputs)

    lm_ches.last_hidden_state = recording_forward
    ches_scores = lambda: lm_ches.ches_scores(model, tokenizer, pairs, batch_size=args.batch_size,  # noqa: E731
                                              progress=False)
    ches_scores()                           # warm-up (also records the batches)
    lm_ches.last_hidden_state = original_forward
    repeats = 2 if args.quick else 3
    scores, t_rmlab, mem_rmlab = timed(ches_scores, device, repeats)

    def bare():
        with torch.no_grad():
            for inputs in recorded:
                original_forward(model, *inputs)
    bare()
    _, t_bare, mem_bare = timed(bare, device, repeats)
    reference, t_ref, mem_ref = timed(lambda: reference_loop(model, tokenizer, pairs), device, repeats)

    worst = 0.0
    for j, column in enumerate(("ches", "ln_ches", "last_hidden_inner_product")):
        scale = np.abs(reference[:, j]).max()
        error = np.abs(scores[column].to_numpy() - reference[:, j]).max() / scale
        worst = max(worst, error)
        print(f"  {column:26s} max |rmlab - reference| / max |reference| = {error:.2e}")
    print(f"best of {repeats} runs:")
    print(f"rmlab ches_scores    {t_rmlab:7.2f} s   peak memory +{mem_rmlab:7.1f} MiB")
    print(f"bare batched forward {t_bare:7.2f} s   peak memory +{mem_bare:7.1f} MiB")
    print(f"reference loop       {t_ref:7.2f} s   peak memory +{mem_ref:7.1f} MiB")
    speedup, overhead = t_ref / t_rmlab, t_rmlab / t_bare
    print(f"speed-up vs reference loop: {speedup:.1f}x (target >= 10x on CPU)")
    print(f"time vs bare batched forward: {overhead:.2f}x (target <= 1.25x)")
    assert worst <= 1e-5, f"rmlab and the reference disagree: rel. error {worst:.2e} > 1e-5"
    return 0


if __name__ == "__main__":
    sys.exit(main())

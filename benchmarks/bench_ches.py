"""CHES over many preference pairs: rmlab's batched, last-layer-only scorer vs the official per-example loop.

* rmlab: ``rmlab.lm.ches.ches_scores`` -- tokenise everything (batched), per batch of ``--batch-size`` pairs one
  padded forward of the prompts and one of the chosen + rejected responses on the prompts' shared key/value cache
  (last layer only), float64 sums, edit distances;
* reference: one pair at a time, unpadded, the full causal LM with ``output_hidden_states=True`` (every layer kept),
  hidden states of the last layer from the last prompt token on, as the official
  ``compute_preference_similarity_per_example.py`` does;
* bare forward: the very batches rmlab formed (recorded during its run), each replayed as one padded backbone
  forward of its 2B full sequences (prompt + chosen, prompt + rejected) with nothing else -- what scoring costs
  without prompt sharing, bookkeeping or CHES math.

Times are the best of 3 runs (2 with --quick) after a warm-up. Checks: rmlab's CHES, LN-CHES and last-hidden inner
products equal the reference to rel. 1e-5 (float32 forwards of different batch shapes; the tolerance is relative to
each column's scale). Prints the speed ratio vs the reference (target >= 10x on CPU), the ratio to the bare forward
(target <= 1.25x) and the peak memory growth of each method (resident set size sampled every 2 ms on CPU;
``torch.cuda.max_memory_allocated`` on GPU).

Usage: ``python benchmarks/bench_ches.py [--quick] [--device cuda] [--threads N] [--model PATH [--data FILE]]
[--chat-template]``.
Default model and data (under 2 minutes on one CPU thread): a random GPT-NeoX (Pythia's architecture), d=128,
4 layers; random prompts of 2-8 words and responses of 10-40 tokens. ``--model`` (a local causal LM folder, loaded
with ``rmlab.lm.load.load_causal_lm``) and ``--data`` (a preference file, read with
``rmlab.lm.data.load_preferences``) benchmark any model on any pairs, repeated or cut to ``--pairs``; ``--model``
alone uses the default random pairs (64, 32 with --quick). A registered name works too:
``--model smollm2-135m-instruct --chat-template`` (fetched on first use; target there: <= 1.15x the bare forward).
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
from rmlab.lm.data import encode_prompt, load_preferences  # noqa: E402
from rmlab.lm.load import load_causal_lm  # noqa: E402
from rmlab.lm.batching import last_hidden_state, pad_batch, padding_id  # noqa: E402


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
def reference_loop(model, tokenizer, pairs, chat_template=False) -> np.ndarray:
    """[n, 3] CHES, LN-CHES, last-hidden inner product, one pair at a time with every layer's hidden states."""
    device = next(model.parameters()).device
    out = []
    for pair in pairs:
        prompt_ids = encode_prompt(tokenizer, pair["prompt"], chat_template=chat_template)
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


def synthetic_model_and_pairs(n_pairs: int, device):
    """The default workload: a random GPT-NeoX (d=128, 4 layers) and random pairs with 10-40-word responses."""
    with tempfile.TemporaryDirectory() as folder:
        save_causal_lm(folder, "gpt_neox", hidden=128, layers=4, context=256, seed=0)
        model, tokenizer = load_causal_lm(folder, device=device)
    return model, tokenizer, random_pairs(n_pairs, seed=0, min_words=10, max_words=40)


def user_model_and_pairs(model_path, data_path, n_pairs: int, device):
    """A causal LM (folder or registered name) and the first ``n_pairs`` pairs of a preference file (repeated if it
    has fewer), or random pairs without a file."""
    model, tokenizer = load_causal_lm(model_path, device=device)
    if data_path is None:
        return model, tokenizer, random_pairs(n_pairs, seed=0, min_words=10, max_words=40)
    rows = load_preferences(data_path).select_columns(["prompt", "chosen", "rejected"]).to_list()
    return model, tokenizer, [rows[i % len(rows)] for i in range(n_pairs)]


def describe(model, tokenizer, pairs) -> str:
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", "?")
    width = getattr(config, "hidden_size", None) or getattr(config, "n_embd", "?")

    def lengths(keys):
        return [len(tokenizer(p[k], add_special_tokens=False)["input_ids"]) for p in pairs for k in keys]
    prompt, response = lengths(["prompt"]), lengths(["chosen", "rejected"])
    return (f"{len(pairs)} pairs, {config.model_type} d={width} x {layers} layers, prompts {min(prompt)}-"
            f"{max(prompt)} tokens (mean {np.mean(prompt):.1f}), responses {min(response)}-{max(response)} tokens "
            f"(mean {np.mean(response):.1f})")


def bare_forward(model, tokenizer, batches):
    """Each recorded batch of ``(prompt, chosen, rejected)`` ids as one right-padded forward of its 2B full
    sequences (rmlab's path without prompt sharing), nothing else."""
    with torch.no_grad():
        for batch in batches:
            sequences = [p + c for p, c, _ in batch] + [p + r for p, _, r in batch]                # 2B
            ids, mask, positions, _ = pad_batch(sequences, padding_id(tokenizer),
                                                device=next(model.parameters()).device)         # [2B, T]
            last_hidden_state(model, ids, mask, positions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="512 pairs instead of 1024")
    parser.add_argument("--pairs", type=int, default=None, help="number of pairs (default 1024, 512 with --quick)")
    parser.add_argument("--model", default=None, help="a local causal LM folder (default: random GPT-NeoX d=128)")
    parser.add_argument("--data", default=None, help="a preference file for --model (jsonl/json/parquet)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass in rmlab")
    parser.add_argument("--chat-template", action="store_true", help="format prompts with the tokenizer's template")
    args = parser.parse_args()
    if args.data is not None and args.model is None:
        parser.error("--data needs --model")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_pairs = args.pairs or ((512 if args.quick else 1024) if args.model is None else (32 if args.quick else 64))
    target_overhead = 1.25 if args.model is None else 1.15
    if args.model is None:
        model, tokenizer, pairs = synthetic_model_and_pairs(n_pairs, device)
    else:
        model, tokenizer, pairs = user_model_and_pairs(args.model, args.data, n_pairs, device)
    print(f"{describe(model, tokenizer, pairs)}, device {device}, {torch.get_num_threads()} CPU thread(s), "
          f"batch {args.batch_size} pairs, prompt cache shared: {lm_ches.shares_prompt_cache(model)}")

    recorded = []                           # the batches rmlab formed, as id triples, for the bare-forward replay
    original_score_batch = lm_ches._score_batch

    def recording_score_batch(model_, tokenizer_, pairs_, batch, *rest):
        recorded.append([pairs_[i] for i in batch])
        return original_score_batch(model_, tokenizer_, pairs_, batch, *rest)

    lm_ches._score_batch = recording_score_batch
    ches_scores = lambda: lm_ches.ches_scores(model, tokenizer, pairs, batch_size=args.batch_size,  # noqa: E731
                                              chat_template=args.chat_template, progress=False)
    ches_scores()                           # warm-up (also records the batches)
    lm_ches._score_batch = original_score_batch
    repeats = 2 if args.quick else 3
    scores, t_rmlab, mem_rmlab = timed(ches_scores, device, repeats)

    bare_forward(model, tokenizer, recorded)
    _, t_bare, mem_bare = timed(lambda: bare_forward(model, tokenizer, recorded), device, repeats)
    reference, t_ref, mem_ref = timed(lambda: reference_loop(model, tokenizer, pairs, args.chat_template), device,
                                      repeats)

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
    print(f"time vs bare batched forward of the full sequences: {overhead:.2f}x (target <= {target_overhead}x)")
    assert worst <= 1e-5, f"rmlab and the reference disagree: rel. error {worst:.2e} > 1e-5"
    return 0


if __name__ == "__main__":
    sys.exit(main())

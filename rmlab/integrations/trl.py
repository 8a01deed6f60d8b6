"""rmlab's measurements inside Hugging Face TRL's trainers (``pip install 'rmlab[trl]'``; TRL 1.16).

Three pieces, each reusing :mod:`rmlab.measure`, :mod:`rmlab.lm` and :mod:`rmlab.train` (no copies):

* :class:`WithinGroupRewardStats` wraps the task reward function of a ``GRPOTrainer`` / ``RLOOTrainer`` and logs,
  per generation batch, what the policy gradient actually sees of that reward: the **within-group** std (mean, 10th,
  50th, 90th percentile over groups), the fraction of groups with zero std, and the within-/between-prompt variance
  split of arXiv 2503.15477 (population form, within + between = total). It logs through TRL's own ``log_metric``
  hook, so the numbers go wherever TRL's ``reward_std`` goes (console, TensorBoard, W&B, ``state.log_history``),
  under ``within_group/<stat>`` (:data:`STAT_NAMES`). TRL's ``reward_std`` is a whole-batch std, and its
  ``frac_reward_zero_std`` collapses to 0/1 under ``scale_rewards="batch"``; these never do.
* :class:`DPOProbeCallback`, a ``TrainerCallback`` for ``DPOTrainer``: every ``every`` steps (and at step 0 and at the
  end) it computes ln π(y⁺|x) and ln π(y⁻|x) of each probe pair (summed over response + EOS, as ``rmlab dpo``), logs
  ``probe/frac_chosen_fell`` (pairs whose chosen log-prob is below its step-0 value), ``probe/chosen_delta_mean``,
  ``probe/chosen_delta_worst`` (the most negative Δ) and ``probe/rejected_delta_mean``, and writes the per-example
  table with ``rmlab dpo``'s tracking columns (``step, index, logp_chosen, logp_rejected, n_tokens_chosen,
  n_tokens_rejected`` and ``top_gainers`` for single-token pairs) as JSON lines.
* :class:`RewardVarianceFilter`, a ``datasets.Dataset -> datasets.Dataset`` transform: samples k responses per prompt
  from the current policy (seeded per prompt and sample, :mod:`rmlab.lm.sample`), scores them, and keeps prompts
  whose within-prompt reward std is above ``min_std`` or in the ``top_fraction`` (adding a ``reward_std`` column).
  Run it on the dataset before training, or between rounds of training on ``trainer.model``.

Grouping: TRL repeats each prompt ``num_generations`` times in a row, and a process's generation batch holds whole
groups when ``per_device_train_batch_size * steps_per_generation`` is a multiple of ``num_generations`` (always so
on one process). The wrapper checks that consecutive groups share their prompt and raises otherwise; on several
processes each logs the stats of its own groups and TRL averages them across processes.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from rmlab._io import atomic_write_text, to_jsonable
from rmlab.errors import UserError, check_int_range
from rmlab.lm.batching import padding_id
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.load import context_length
from rmlab.lm.reward_spec import score_rewards
from rmlab.lm.sample import sample_responses
from rmlab.measure import variance as V
from rmlab.train.dpo import PairTracker

try:
    import trl  # noqa: F401  (the extra this module belongs to)
    from transformers import TrainerCallback
except ImportError as err:                                          # pragma: no cover - the extra is missing
    raise ImportError("rmlab.integrations.trl needs TRL: pip install 'rmlab[trl]'") from err

STAT_NAMES = ("std_mean", "std_p10", "std_p50", "std_p90", "frac_zero_std", "within_prompt_variance",
              "between_prompt_variance", "total_variance")
PROBE_METRICS = ("frac_chosen_fell", "chosen_delta_mean", "chosen_delta_worst", "rejected_delta_mean")


def group_reward_stats(rewards, *, zero_std_atol: float = V.ZERO_STD_ATOL) -> dict[str, float]:
    """The within-group statistics of ``[n_groups, k]`` rewards (:data:`STAT_NAMES`), from :mod:`rmlab.measure`.

    >>> stats = group_reward_stats(np.array([[1.0, 1.0], [0.0, 2.0]]))
    >>> [stats[name] for name in ("frac_zero_std", "within_prompt_variance", "between_prompt_variance")]
    [0.5, 0.5, 0.0]
    """
    summary = V.within_group_std_summary(rewards, atol=zero_std_atol)
    split = V.variance_decomposition(rewards)
    return {"std_mean": summary["within_std_mean"], "std_p10": summary["within_std_p10"],
            "std_p50": summary["within_std_p50"], "std_p90": summary["within_std_p90"],
            "frac_zero_std": summary["frac_zero_std"], "within_prompt_variance": float(split.within_prompt),
            "between_prompt_variance": float(split.between_prompt), "total_variance": float(split.total)}


def as_trl_reward(reward_fn: Callable, name: str | None = None) -> Callable:
    """A TRL reward function (``f(prompts, completions, **kwargs) -> list[float]``) from an rmlab reward function
    ``f(prompts, responses) -> array`` (an :class:`~rmlab.lm.score.ExplicitRM`, ``ImplicitRM``, a world's gold reward,
    ...), its output checked by :func:`rmlab.lm.reward_spec.score_rewards`. Standard (string) prompts only.

    >>> reward = as_trl_reward(lambda prompts, responses: [len(r) for r in responses], name="length")
    >>> reward.__name__, reward(prompts=["q", "q"], completions=["ab", "abc"], trainer_state=None)
    ('length', [2.0, 3.0])
    """
    name = name or _name(reward_fn)

    def reward(prompts, completions, **_):
        if prompts and not isinstance(prompts[0], str):
            raise UserError(f"reward {name!r}: conversational prompts are not supported; use string prompts")
        return score_rewards(name, reward_fn, list(prompts), list(completions)).tolist()

    reward.__name__ = reward.__qualname__ = name
    return reward


class WithinGroupRewardStats:
    """Wrap a TRL reward function: return its rewards unchanged and log their within-group statistics (module
    docstring) as ``<prefix>/<stat>`` through TRL's ``log_metric``. ``history`` keeps every batch's stats, and
    ``last_rewards`` the last ``[n_groups, k]`` rewards with ``last_prompts`` / ``last_completions``.

    >>> stats = WithinGroupRewardStats(lambda prompts, completions, **kw: [float(len(c)) for c in completions],
    ...                                num_generations=2)
    >>> logged = {}
    >>> stats(prompts=["a", "a", "b", "b"], completions=["x", "x", "x", "xyz"], log_metric=logged.__setitem__)
    [1.0, 1.0, 1.0, 3.0]
    >>> logged["within_group/frac_zero_std"], stats.__name__
    (0.5, '<lambda>')
    """

    def __init__(self, reward_func: Callable, *, num_generations: int, prefix: str = "within_group",
                 zero_std_atol: float = V.ZERO_STD_ATOL):
        check_int_range(num_generations, "num_generations", minimum=2)
        self.reward_func, self.num_generations, self.prefix = reward_func, num_generations, prefix
        self.zero_std_atol = zero_std_atol
        functools.update_wrapper(self, reward_func, assigned=("__name__", "__qualname__", "__doc__"), updated=())
        self.history: list[dict[str, float]] = []
        self.last_rewards = self.last_prompts = self.last_completions = None

    def __call__(self, prompts, completions, **kwargs):
        rewards = self.reward_func(prompts=prompts, completions=completions, **kwargs)
        grouped = self._grouped(list(prompts), rewards)
        stats = group_reward_stats(grouped, zero_std_atol=self.zero_std_atol)
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            for name, value in stats.items():
                log_metric(f"{self.prefix}/{name}", value)
        self.history.append(stats)
        self.last_rewards, self.last_prompts, self.last_completions = grouped, list(prompts), list(completions)
        return rewards

    def _grouped(self, prompts: list, rewards) -> np.ndarray:
        k = self.num_generations
        values = np.array([np.nan if r is None else r for r in rewards], dtype=np.float64)
        if len(values) % k:
            raise UserError(f"{len(values)} rewards in a batch are not whole groups of num_generations={k}: make "
                            "per_device_train_batch_size * steps_per_generation a multiple of num_generations")
        for start in range(0, len(prompts), k):
            if any(p != prompts[start] for p in prompts[start:start + k]):
                raise UserError(f"completions {start}..{start + k - 1} do not share one prompt: is num_generations="
                                f"{k} the trainer's?")
        return values.reshape(-1, k)


class DPOProbeCallback(TrainerCallback):
    """Per-example ln π(y⁺|x), ln π(y⁻|x) of a probe set during ``DPOTrainer`` training (module docstring).

    probe: a ``datasets.Dataset`` (or anything with prompt/chosen/rejected columns) of standard string pairs;
    tokenizer: the policy's. every: record every N optimiser steps (and at step 0 and at the end). out: JSON-lines
    file for the per-example table (written atomically at every record; None: keep ``rows`` in memory only).
    The metrics are added to the trainer's own metrics (TRL's ``_metrics``, averaged at its next logging step with
    ``rewards/margins`` and the others): register with ``callback.attach(trainer)``.
    """

    def __init__(self, probe, tokenizer, *, every: int = 10, out: str | os.PathLike | None = None, top_k: int = 5,
                 chat_template: bool = False):
        check_int_range(every, "every", minimum=1)
        self.every, self.out, self.tokenizer, self.trainer = every, out, tokenizer, None
        self.pairs = encode_preference_pairs(tokenizer, probe, chat_template=chat_template)
        self.tracker = PairTracker(tokenizer, self.pairs, padding_id(tokenizer), top_k=top_k)
        self.metrics: list[dict[str, float]] = []

    @property
    def rows(self) -> list[dict]:
        return self.tracker.rows

    def attach(self, trainer) -> "DPOProbeCallback":
        if not hasattr(trainer, "_metrics"):
            raise TypeError(f"{type(trainer).__name__} keeps no TRL metrics (_metrics): pass a trl.DPOTrainer")
        limit = context_length(trainer.model)
        too_long = [i for i, (p, c, r) in enumerate(self.pairs) if limit and len(p) + max(len(c), len(r)) > limit]
        if too_long:
            raise UserError(f"probe pairs {too_long[:10]} exceed the model's context of {limit} tokens")
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not self.rows:
            self._record(state.global_step, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self._record(state.global_step, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.rows[-1]["step"] != state.global_step:
            self._record(state.global_step, model)

    def _record(self, step: int, model) -> None:
        self.tracker.record(step, model)
        metrics = probe_deltas(self.rows, step)
        self.metrics.append({"step": step, **metrics})
        if self.trainer is not None:
            for name, value in metrics.items():
                self.trainer._metrics["train"][f"probe/{name}"].append(value)
        if self.out is not None:
            atomic_write_text(self.out, "".join(json.dumps(to_jsonable(r), allow_nan=False) + "\n"
                                                for r in self.rows))


def probe_deltas(rows: Sequence[dict], step: int) -> dict[str, float]:
    """:data:`PROBE_METRICS` at ``step`` from tracking rows (``rmlab dpo``'s columns), Δ = value − value at the first
    recorded step.

    >>> rows = [{"step": 0, "index": 0, "logp_chosen": -1.0, "logp_rejected": -2.0},
    ...         {"step": 0, "index": 1, "logp_chosen": -3.0, "logp_rejected": -1.0},
    ...         {"step": 5, "index": 0, "logp_chosen": -1.5, "logp_rejected": -4.0},
    ...         {"step": 5, "index": 1, "logp_chosen": -2.0, "logp_rejected": -2.0}]
    >>> probe_deltas(rows, 5)
    {'frac_chosen_fell': 0.5, 'chosen_delta_mean': 0.25, 'chosen_delta_worst': -0.5, 'rejected_delta_mean': -1.5}
    """
    first = min(r["step"] for r in rows)
    start = {r["index"]: r for r in rows if r["step"] == first}
    now = [r for r in rows if r["step"] == step]
    chosen = np.array([r["logp_chosen"] - start[r["index"]]["logp_chosen"] for r in now])
    rejected = np.array([r["logp_rejected"] - start[r["index"]]["logp_rejected"] for r in now])
    return {"frac_chosen_fell": float((chosen < 0).mean()), "chosen_delta_mean": float(chosen.mean()),
            "chosen_delta_worst": float(chosen.min()), "rejected_delta_mean": float(rejected.mean())}


class RewardVarianceFilter:
    """Keep the prompts whose reward std under ``policy`` is high (module docstring): a ``Dataset -> Dataset``
    transform, adding the ``reward_std`` column (unbiased std of the k rewards of each prompt).

    Exactly one of ``min_std`` (keep std > min_std) and ``top_fraction`` (keep the ceil(fraction · n) prompts of
    largest std; ties broken by dataset order) is given. Sampling: temperature 1, top-k/top-p off (the report's),
    seeded per (seed, row index, sample index), so the same dataset and policy give the same selection.
    """

    def __init__(self, policy, tokenizer, reward_fn: Callable, *, k: int = 8, min_std: float | None = None,
                 top_fraction: float | None = None, max_new_tokens: int = 32, seed: int = 0, batch_size: int = 16,
                 column: str = "prompt"):
        if (min_std is None) == (top_fraction is None):
            raise UserError("give exactly one of min_std and top_fraction")
        if top_fraction is not None and not 0 < top_fraction <= 1:
            raise UserError(f"top_fraction must be in (0, 1], got {top_fraction}")
        if min_std is not None and not min_std >= 0:
            raise UserError(f"min_std must be >= 0, got {min_std}")
        check_int_range(k, "k", minimum=2)
        self.policy, self.tokenizer, self.reward_fn, self.k = policy, tokenizer, reward_fn, k
        self.min_std, self.top_fraction, self.max_new_tokens = min_std, top_fraction, max_new_tokens
        self.seed, self.batch_size, self.column = seed, batch_size, column

    def reward_std(self, prompts: list[str]) -> np.ndarray:
        """The unbiased within-prompt reward std of each prompt under the policy: ``[n]``."""
        was_training = self.policy.training
        self.policy.eval()
        try:
            responses = sample_responses(self.policy, self.tokenizer, prompts, self.k,
                                         max_new_tokens=self.max_new_tokens, seed=self.seed,
                                         batch_size=self.batch_size, progress=False)
        finally:
            self.policy.train(was_training)
        flat_prompts = [p for p in prompts for _ in range(self.k)]
        rewards = score_rewards(_name(self.reward_fn), self.reward_fn, flat_prompts, [r for g in responses for r in g])
        return np.sqrt(V.per_prompt_variance(rewards.reshape(len(prompts), self.k)))

    def __call__(self, dataset):
        if self.column not in dataset.column_names:
            raise UserError(f"the dataset has no {self.column!r} column (columns: {dataset.column_names})")
        std = self.reward_std(list(dataset[self.column]))
        if self.min_std is not None:
            keep = np.flatnonzero(std > self.min_std)
        else:
            n_keep = int(np.ceil(self.top_fraction * len(std)))
            keep = np.sort(np.argsort(-std, kind="stable")[:n_keep])
        return dataset.add_column("reward_std", std.tolist()).select(keep.tolist())


def _name(fn) -> str:
    return getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__


__all__ = ["STAT_NAMES", "PROBE_METRICS", "group_reward_stats", "as_trl_reward", "WithinGroupRewardStats",
           "DPOProbeCallback", "probe_deltas", "RewardVarianceFilter"]

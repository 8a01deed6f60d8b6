"""The reward-variance report of arXiv 2503.15477 (§4.4) for any policy and any reward models.

One policy, several reward models, the SAME samples: k responses per prompt are sampled once from the policy
(``rmlab.lm.sample.sample_responses``), then every reward model -- and the gold reward, when given -- scores those
exact (prompt, response) pairs. Per reward model the report gives (``rmlab.measure``):

* ``reward_variance``: mean over prompts of the unbiased within-prompt variance of the raw rewards;
* ``whitened_reward_variance``: the paper's metric (Table 1; scale-free): rewards whitened by the global mean and
  unbiased std over all n·k, then the mean of the unbiased per-prompt variances;
* ``within_prompt_variance`` (mean over prompts of the population within-prompt variance), ``between_prompt_variance``
  (population variance of the per-prompt means), ``total_variance`` (population variance of all n·k rewards pooled;
  TRL's ``reward_std`` is √ of this with ddof=1): the law of total variance, within + between = total;
* ``frac_zero_variance``: fraction of prompts whose k rewards have std <= ``zero_std_atol`` (1e-8, as TRL);
* ``teacher_score``: mean over prompts of the within-prompt covariance of the gold reward with the RM reward divided
  by the RM's root mean within-prompt variance (:mod:`rmlab.measure.teacher`: the first-order rate at which this RM
  raises the gold reward of this policy per unit step; null without gold);
* ``on_policy_accuracy``: vs the gold reward over all k(k−1)/2 pairs of each prompt, averaged over prompts (NaN /
  null without gold);
* ``off_policy_accuracy``: on a preference dataset (null without one), against the gold reward's scores of chosen and
  rejected when ``gold`` is given, else the dataset's ``score_chosen``/``score_rejected`` columns when present (the
  official recipe), else "chosen wins";
* ``ci95``: {metric: [lo, hi]}, percentile bootstrap over prompts (over pairs for off-policy accuracy), the same
  resamples for every reward model (paired), seeded; [null, null] where the metric is not computable.

Tie rules: ``rmlab.measure.accuracy`` (``ties="paper"``: sign agreement, a gold tie is right only if the RM ties too;
``ties="half"``: arXiv 2507.07981, RM ties count ½).

Deviations from the official code, stated: variances are reported raw *and* whitened (the code logs both); the
official recipe uses 500 prompts × 10 samples at temperature 1 and ≤ 512 new tokens (pass ``k=10`` and
``max_new_tokens=512`` to match); it always wraps prompt and response in a chat template (adding a default one when
the tokenizer has none), rmlab only with ``chat_template=True``; rmlab appends EOS to every response before scoring
(``rmlab.lm.data``).

Long runs: with ``rows_path`` every prompt's row (prompt, k responses, every RM's k rewards, gold rewards, and
per-prompt mean/variance/accuracy) and every preference pair's scores are appended to a JSONL file as they are
computed, and a rerun with the same arguments resumes from it (``rmlab.lm.rows``). Sampling is seeded per (seed,
prompt index, sample index), so resumed rows equal those of an uninterrupted run -- bit for bit, scores included:
a padded batch's scores depend on the other sequences in it at float-rounding level (~1e-6, enough to flip an exact
tie under ``ties="paper"``), so prompts (and preference pairs) are processed in fixed blocks of the input order
whose size depends only on ``batch_size`` and ``k``, never on what an earlier run finished; a resumed run
recomputes its interrupted block whole and keeps only the missing rows. The same ``batch_size`` is needed for
bitwise-equal scores (it is not part of the fingerprint; another batch size resumes with rounding-level differences).

Checks: every argument, spec, model folder and data file is checked before any model is loaded or any sample drawn;
mistakes raise :class:`rmlab.errors.UserError` naming the argument, file, line or spec. Duplicate prompts and prompts
the policy's tokenizer sees as nothing but its unknown token are allowed, with a warning.

>>> report = reward_report("my/policy", {"rm": "my/rm"}, prompts, k=8, gold="py:mygold:score")  # doctest: +SKIP
>>> report.summary[["whitened_reward_variance", "on_policy_accuracy"]]                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rmlab._headless import tqdm

from rmlab._io import atomic_write_json, to_jsonable
from rmlab.errors import UserError
from rmlab.lm.backends import make_backend
from rmlab.lm.data import encode_prompt, load_preferences
from rmlab.lm.distributed import Ranks, blocks_to_do, rows_files
from rmlab.lm.load import as_model_and_tokenizer, check_model_source, context_length, load_causal_lm
from rmlab.lm.report_config import ReportConfig
from rmlab.lm.reward_spec import check_reward_spec, resolve_reward, score_rewards
from rmlab.lm.rows import ResumableRows
from rmlab.lm.sample import sample_responses
from rmlab.measure.selection import select_prompts_by_variance
from rmlab.measure.summary import METRICS, summarize
from rmlab.measure.accuracy import on_policy_accuracy_per_prompt, preference_correct

# ------------------------------------------------------------------------------------------------ report
@dataclass
class RewardReport:
    """Result of ``reward_report``.

    summary: one row per reward model (index ``reward_model``): the ``METRICS`` and, for each, ``<metric>_ci_low`` /
        ``<metric>_ci_high`` (95 % bootstrap).
    per_prompt: long format, one row per (reward model, prompt): ``reward_model, prompt_index, reward_mean,
        reward_variance`` (unbiased), ``whitened_reward_variance``, ``on_policy_accuracy`` (NaN without gold).
    rewards: ``{name: [n_prompts, k]}``; gold_rewards: ``[n_prompts, k]`` or None; responses: n lists of k strings.
    gold_summary: the variance metrics of the gold reward itself (the paper's "GT" column), or None.
    """

    summary: pd.DataFrame
    per_prompt: pd.DataFrame
    n_prompts: int
    n_samples: int
    rewards: dict[str, np.ndarray]
    gold_rewards: np.ndarray | None
    responses: list[list[str]]
    n_preference_pairs: int | None = None
    gold_summary: dict | None = None
    arguments: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def select_prompts(self, reward_model: str, size: int | None = None, *, fraction: float | None = None
                       ) -> np.ndarray:
        """Indices (input order) of the ``size`` (or ``fraction`` of the) prompts with the highest within-prompt
        variance of ``reward_model``'s rewards under the policy: the prompts on which RLOO / GRPO with this RM can
        move at all (:func:`rmlab.measure.selection.select_prompts_by_variance`)."""
        if reward_model not in self.rewards:
            raise UserError(f"no reward model {reward_model!r} in the report; it has {sorted(self.rewards)}")
        try:
            return select_prompts_by_variance(self.rewards[reward_model], size, fraction=fraction)
        except ValueError as err:
            raise UserError(f"prompt selection: {err}") from None

    def to_dict(self) -> dict:
        """The REPORT.json content: ``n_prompts, n_samples, reward_models: {NAME: {metrics..., ci95: {...}}}``
        (+ ``n_preference_pairs``, ``gold_reward``, ``arguments``, ``config``: the :class:`ReportConfig` as a dict);
        NaN / not computable -> null."""
        models = {name: _metrics_dict(row) for name, row in self.summary.iterrows()}
        return to_jsonable({"n_prompts": self.n_prompts, "n_samples": self.n_samples, "reward_models": models,
                            "n_preference_pairs": self.n_preference_pairs, "gold_reward": self.gold_summary,
                            "arguments": self.arguments, "config": self.config})

    def save_json(self, path) -> Path:
        """Write ``to_dict()`` atomically (a reader never sees a partial file)."""
        return atomic_write_json(path, self.to_dict())

    def plot_variance_distribution(self, *, whitened: bool = True):
        """Distribution over prompts of each RM's within-prompt variance (whitened by default: comparable across
        RMs), as box plots with every prompt as a dot and the mean as a diamond. Returns a Figure."""
        import seaborn as sns

        from rmlab import plotting

        column = "whitened_reward_variance" if whitened else "reward_variance"
        names = list(self.summary.index)
        fig, ax = plotting.subplots(1, 1, width=max(4.2, 1.3 * len(names) + 2), height=3.6)
        data = self.per_prompt
        sns.boxplot(data=data, x="reward_model", y=column, order=names, ax=ax, color="white", fliersize=0, width=0.5)
        sns.stripplot(data=data, x="reward_model", y=column, order=names, ax=ax, hue="reward_model",
                      palette=plotting.PALETTE[:len(names)], size=3, alpha=0.6, jitter=0.2, legend=False)
        ax.scatter(range(len(names)), self.summary[column], marker="D", color="black", zorder=5, label="mean")
        ax.set_xlabel("reward model")
        ax.set_ylabel(("whitened " if whitened else "") + "within-prompt variance")
        ax.set_title(f"Per-prompt reward variance ({self.n_prompts} prompts × {self.n_samples} samples)")
        ax.legend(loc="upper right")
        return fig

    def plot_accuracy_vs_variance(self):
        """Accuracy (on- and/or off-policy) against whitened reward variance, one point per RM with 95 % CIs."""
        from rmlab import plotting

        kinds = [m for m in ("on_policy_accuracy", "off_policy_accuracy") if self.summary[m].notna().any()]
        if not kinds:
            raise UserError("no accuracy to plot: pass gold= (on-policy) or preferences= (off-policy)")
        fig, axes = plotting.subplots(1, len(kinds), squeeze=False)
        for ax, metric in zip(axes[0], kinds):
            for color, name in zip(plotting.PALETTE * 10, self.summary.index):
                one = self.summary.loc[[name]]
                ax.errorbar(one["whitened_reward_variance"], one[metric], fmt="o", color=color, capsize=3,
                            xerr=_error_bars(one, "whitened_reward_variance"), yerr=_error_bars(one, metric),
                            label=name)
            label = {"on_policy_accuracy": "on-policy accuracy", "off_policy_accuracy": "off-policy accuracy"}[metric]
            ax.set_xlabel("whitened reward variance")
            ax.set_ylabel(label)
            ax.set_title(f"{label[0].upper()}{label[1:]} vs variance")
        axes[0][-1].legend(loc="best", fontsize="small")
        return fig


def _metrics_dict(row: pd.Series) -> dict:
    out = {m: _none_if_nan(row[m]) for m in METRICS}
    out["ci95"] = {m: [_none_if_nan(row[f"{m}_ci_low"]), _none_if_nan(row[f"{m}_ci_high"])] for m in METRICS}
    return out


def _none_if_nan(value):
    value = float(value)
    return None if np.isnan(value) else value


def _error_bars(summary: pd.DataFrame, metric: str) -> np.ndarray:
    """[2, n] distances from the estimate to the CI ends, for ``errorbar``."""
    low = (summary[metric] - summary[f"{metric}_ci_low"]).to_numpy()
    high = (summary[f"{metric}_ci_high"] - summary[metric]).to_numpy()
    return np.nan_to_num(np.stack([low, high]).clip(min=0))


def _sha256(items) -> str:
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()


def _describe_policy(policy) -> str:
    if isinstance(policy, (str, os.PathLike)):
        return os.fspath(policy)
    model = policy[0] if isinstance(policy, tuple) else policy
    return f"{type(model).__name__}:{getattr(model.config, '_name_or_path', '')}"


def _checked_prompts(prompts) -> list[str]:
    """The prompts as a list of non-empty strings; duplicates are allowed but warned about (once, with a count)."""
    prompts = list(prompts)
    if not prompts:
        raise UserError("no prompts")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"prompt {i} is empty or not a string: {prompt!r:.80}")
    n_repeats = len(prompts) - len(set(prompts))
    if n_repeats:
        first = next(i for i, p in enumerate(prompts) if prompts.index(p) != i)
        warnings.warn(f"{n_repeats} of {len(prompts)} prompts repeat an earlier prompt (first: prompt {first}); "
                      "each repeat is sampled and weighted as a prompt of its own", stacklevel=3)
    return prompts


def _check_pair_lengths(reward_fns: dict, pairs: dict) -> None:
    """Every preference pair fits every model-based reward's context (checked before anything is sampled)."""
    for name, fn in reward_fns.items():
        if not hasattr(fn, "check_lengths"):
            continue
        for side in ("chosen", "rejected"):
            try:
                fn.check_lengths(pairs["prompt"], pairs[side], what=f"preference pair ({side})",
                                 too_long_hint="rmlab report does not truncate: shorten or drop that pair")
            except UserError as err:
                raise UserError(f"reward model {name!r}: {err}") from None


def reward_report(policy, reward_models: dict, prompts, config: ReportConfig | None = None, *, gold=None,
                  preferences=None, rows_path=None, progress: bool = True, sampler=None, ranks: Ranks | None = None,
                  **settings) -> RewardReport | None:
    """Sample k responses per prompt from ``policy`` once, score them with every reward model (and ``gold``), and
    summarise (module docstring).

    policy: a path / hub id, or a ``(model, tokenizer)`` pair. reward_models: ``{name: spec string or reward fn}``.
    config: a :class:`ReportConfig`; ``settings`` (its field names, e.g. ``k=8, seed=1``) build one or replace
    fields of ``config``. gold: a spec / reward fn (on-policy accuracy) or None. preferences: anything
    ``load_preferences`` accepts, or None. rows_path: JSONL file for resumable per-prompt rows (None: keep everything
    in memory). Everything is validated (settings, specs, prompts, preference file) before anything is sampled or
    written. sampler: a backend object with ``sample_token_ids`` (default: built from ``config.backend``).
    ranks: this process among several launched ones (:mod:`rmlab.lm.distributed`; needs ``rows_path``): it
    computes its share of the blocks, and only rank 0 returns the report (the others return None).
    """
    config = ReportConfig.from_settings(config, settings)
    ranks = ranks or Ranks()
    if ranks.world_size > 1 and rows_path is None:
        raise UserError("a report on several processes needs a rows file (rows_path / --per-prompt)")
    config = dataclasses.replace(config, device=ranks.device(config.device))   # cuda:<local rank> on GPUs
    k, seed, batch_size, ties = config.k, config.seed, config.batch_size, config.ties
    prompts = _checked_prompts(prompts)
    if not reward_models:
        raise UserError("no reward models: pass at least one {name: spec}")
    if "gold" in reward_models and gold is not None:
        raise UserError("'gold' names the gold reward; give the reward model another name")
    for value in [*reward_models.values(), gold]:
        if isinstance(value, str):
            check_reward_spec(value)
    if isinstance(policy, (str, os.PathLike)):
        check_model_source(policy, kind="causal_lm", name="policy")
    pairs = load_preferences(preferences) if preferences is not None else None
    columns = ("prompt", "chosen", "rejected")
    if pairs is not None and gold is None and {"score_chosen", "score_rejected"} <= set(pairs.column_names):
        columns += ("score_chosen", "score_rejected")
    pairs = None if pairs is None else {c: list(pairs[c]) for c in columns}  # column lists
    n_pairs = None if pairs is None else len(pairs["prompt"])
    if pairs is not None and "score_chosen" in pairs:
        for side in ("chosen", "rejected"):
            _gold_column(pairs[f"score_{side}"], list(range(n_pairs)), f"score_{side}")

    options = dict(device=config.device, batch_size=batch_size, chat_template=config.chat_template,
                   trust_remote_code=config.trust_remote_code)
    resolved = {name: resolve_reward(value, **options) for name, value in reward_models.items()}
    gold_fn, gold_description = resolve_reward(gold, **options) if gold is not None else (None, None)
    model, tokenizer = as_model_and_tokenizer(policy, loader=lambda p, device=None: load_causal_lm(
        p, device=device, trust_remote_code=config.trust_remote_code), device=config.device)
    _check_prompt_lengths(model, tokenizer, prompts, config.max_new_tokens, chat_template=config.chat_template)
    if pairs is not None:
        _check_pair_lengths({**{name: fn for name, (fn, _) in resolved.items()}, "gold": gold_fn}, pairs)
    arguments = {
        "policy": _describe_policy(policy), "reward_models": {n: d for n, (_, d) in resolved.items()},
        "gold": gold_description, "prompts_sha256": _sha256(prompts), "n_prompts": len(prompts), "k": k,
        "seed": seed, "max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
        "chat_template": config.chat_template, "backend": config.backend,
        "ties": ties,  # the rows store per-prompt accuracies
        "preferences_sha256": None if pairs is None else _sha256(pairs),
    }
    if sampler is None:
        path = policy if isinstance(policy, (str, os.PathLike)) else None
        sampler = make_backend(config.backend, model_path=path, seed=seed)
    store = ResumableRows(ranks.rows_path(rows_path), arguments) if rows_path is not None else None
    done = store.load() if store is not None else {}
    if rows_path is not None:
        done = {**_rows_of_every_rank(rows_path, arguments), **done}
        ranks.barrier()                        # every rank has read every file before any rank appends

    # --- on-policy rows: sample once, score with every RM and the gold reward on the same samples. Blocks of
    # prompts are fixed by the prompt order (never by what an earlier run finished): a resumed run recomputes its
    # interrupted block whole, with the same batches, so its scores equal an uninterrupted run's bit for bit.
    per_chunk = max(1, batch_size // k) * 4
    blocks = blocks_to_do(len(prompts), per_chunk, "prompt", done)
    bar = tqdm(total=sum(map(len, blocks)), desc="report: prompts", disable=not progress or not blocks)
    for chunk in ranks.claim(blocks, progress=bar):
        responses = sample_responses(model, tokenizer, [prompts[i] for i in chunk], k,
                                     max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=seed,
                                     batch_size=batch_size, chat_template=config.chat_template, progress=False,
                                     indices=chunk, sampler=sampler.sample_token_ids)
        flat_prompts = [prompts[i] for i in chunk for _ in range(k)]
        flat_responses = [r for group in responses for r in group]
        scores = {name: score_rewards(name, fn, flat_prompts, flat_responses).reshape(len(chunk), k)
                  for name, (fn, _) in resolved.items()}
        gold_scores = (score_rewards("gold", gold_fn, flat_prompts, flat_responses).reshape(len(chunk), k)
                       if gold_fn is not None else None)
        rows = [_prompt_row(i, prompts[i], responses[n], {name: s[n] for name, s in scores.items()},
                            None if gold_scores is None else gold_scores[n], ties=ties)
                for n, i in enumerate(chunk) if ("prompt", i) not in done]
        if store is not None:
            store.append(rows)
        done.update({("prompt", row["index"]): row for row in rows})
    bar.close()

    # --- off-policy pairs: each RM (and the gold reward) scores chosen and rejected
    if pairs is not None:
        blocks = blocks_to_do(n_pairs, 4 * batch_size, "pair", done)
        bar = tqdm(total=sum(map(len, blocks)), desc="report: pairs", disable=not progress or not blocks)
        for chunk in ranks.claim(blocks, progress=bar):
            chunk_prompts = [pairs["prompt"][j] for j in chunk]
            both = {side: [pairs[side][j] for j in chunk] for side in ("chosen", "rejected")}
            scored = {name: {side: score_rewards(name, fn, chunk_prompts, texts) for side, texts in both.items()}
                      for name, (fn, _) in resolved.items()}
            if gold_fn is not None:
                gold_pair = {side: score_rewards("gold", gold_fn, chunk_prompts, texts) for side, texts in both.items()}
            elif "score_chosen" in pairs:
                gold_pair = {side: _gold_column(pairs[f"score_{side}"], chunk, f"score_{side}") for side in both}
            else:
                gold_pair = None
            rows = [{"kind": "pair", "index": j,
                     "rewards": {name: [s["chosen"][n], s["rejected"][n]] for name, s in scored.items()},
                     "gold": None if gold_pair is None else [gold_pair["chosen"][n], gold_pair["rejected"][n]]}
                    for n, j in enumerate(chunk) if ("pair", j) not in done]
            if store is not None:
                store.append(rows)
            done.update({("pair", row["index"]): row for row in rows})
        bar.close()

    if rows_path is not None and (ranks.world_size > 1 or len(rows_files(rows_path)) > 1):
        ranks.barrier()                        # every rank's rows are on disk
        if not ranks.is_main:
            return None
        done = _merge_rank_rows(rows_path, arguments)
    return _assemble(done, list(resolved), len(prompts), n_pairs, gold=gold_fn is not None, arguments=arguments,
                     config=config)


def _rows_of_every_rank(rows_path, arguments: dict) -> dict:
    """The rows in every rows file of ``rows_path`` (single-process and per-rank), read without changing them."""
    return {key: row for path in rows_files(rows_path) for key, row in ResumableRows(path, arguments).read().items()}


def _merge_rank_rows(rows_path, arguments: dict) -> dict:
    """Rank 0, once every rank finished: all rows into ``rows_path`` (prompt rows, then pair rows, by index),
    written atomically, then the per-rank files removed."""
    done = _rows_of_every_rank(rows_path, arguments)
    ordered = sorted(done.values(), key=lambda row: (row["kind"] != "prompt", row["index"]))
    path = Path(rows_path)
    tmp = path.with_name(f".{path.name}.merged")
    store = ResumableRows(tmp, arguments)
    store.load()
    store.append(ordered)
    os.replace(tmp, path)
    for rank_file in rows_files(rows_path):
        if rank_file != path:
            rank_file.unlink()
    return done


def _check_prompt_lengths(model, tokenizer, prompts, max_new_tokens: int, *, chat_template: bool) -> None:
    """Every prompt + ``max_new_tokens`` must fit the policy's context: checked up front, before any row is written."""
    context = context_length(model)
    unknown = []
    for i, prompt in enumerate(prompts):
        ids = encode_prompt(tokenizer, prompt, chat_template=chat_template)
        content = [t for t in ids if t not in tokenizer.all_special_ids or t == tokenizer.unk_token_id]
        if tokenizer.unk_token_id is not None and content and set(content) == {tokenizer.unk_token_id}:
            unknown.append(i)
        n = len(ids)
        if context is not None and n + max_new_tokens > context:
            raise UserError(f"prompt {i}: {n} prompt tokens + max_new_tokens={max_new_tokens} exceed the policy's "
                             f"context of {context} tokens (shorten the prompt or lower max_new_tokens)")
    if unknown:
        warnings.warn(f"{len(unknown)} of {len(prompts)} prompts tokenise to nothing but the unknown token "
                      f"{tokenizer.unk_token!r} under the policy's tokenizer (first: prompt {unknown[0]}); the policy "
                      "sees no content in them", stacklevel=3)


def _gold_column(values: list, chunk: list[int], column: str) -> np.ndarray:
    """The preference file's gold scores of the pairs in ``chunk``; missing / non-finite -> error naming the pair."""
    out = np.array([_number_or_nan(values[j]) for j in chunk], dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = chunk[int(np.flatnonzero(~np.isfinite(out))[0])]
        raise UserError(f"preference pair {bad}: column {column!r} is missing or not a finite number")
    return out


def _number_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _prompt_row(index: int, prompt: str, responses: list[str], rewards: dict[str, np.ndarray], gold, *,
                ties: str) -> dict:
    """One prompt's JSONL row: inputs, samples, every RM's rewards, and per-prompt statistics for readers."""
    row = {"kind": "prompt", "index": index, "prompt": prompt, "responses": responses,
           "rewards": {name: r.tolist() for name, r in rewards.items()},
           "gold": None if gold is None else np.asarray(gold).tolist(),
           "reward_mean": {name: float(r.mean()) for name, r in rewards.items()},
           "reward_variance": {name: float(r.var(ddof=1)) for name, r in rewards.items()}}
    if gold is not None:
        row["on_policy_accuracy"] = {name: float(on_policy_accuracy_per_prompt(r[None], np.asarray(gold)[None],
                                                                               ties=ties)[0])
                                     for name, r in rewards.items()}
    return row


def _assemble(done: dict, names: list[str], n_prompts: int, n_pairs: int | None, *, gold: bool, arguments: dict,
              config: ReportConfig) -> RewardReport:
    prompt_rows = [done[("prompt", i)] for i in range(n_prompts)]
    rewards = {name: np.array([row["rewards"][name] for row in prompt_rows], dtype=np.float64) for name in names}
    gold_rewards = np.array([row["gold"] for row in prompt_rows], dtype=np.float64) if gold else None
    credit = None
    if n_pairs is not None:
        pair_rows = [done[("pair", j)] for j in range(n_pairs)]
        gold_pairs = None if pair_rows[0]["gold"] is None else np.array([r["gold"] for r in pair_rows], dtype=float)
        credit = {}
        for name in names:
            scores = np.array([r["rewards"][name] for r in pair_rows], dtype=np.float64)  # [n_pairs, 2]
            credit[name] = preference_correct(scores[:, 0], scores[:, 1],
                                              *((gold_pairs[:, 0], gold_pairs[:, 1]) if gold_pairs is not None
                                                else ()), ties=config.ties)
    summary, per_prompt, gold_summary = summarize(rewards, gold_rewards, credit, n_bootstrap=config.n_bootstrap,
                                                  seed=config.seed, ties=config.ties,
                                                  zero_std_atol=config.zero_std_atol)
    return RewardReport(summary=summary, per_prompt=per_prompt, n_prompts=n_prompts, n_samples=config.k,
                        rewards=rewards, gold_rewards=gold_rewards, responses=[row["responses"] for row in prompt_rows],
                        n_preference_pairs=n_pairs, gold_summary=gold_summary, arguments=arguments,
                        config=dataclasses.asdict(config))


def compare_policies(policies: dict, reward_models: dict, prompts, config: ReportConfig | None = None, *,
                     rows_dir=None, **kwargs) -> pd.DataFrame:
    """``reward_report`` for several policies on the same prompts and RMs; one summary, indexed by
    ``(policy, reward_model)``. rows_dir: folder for one resumable rows file per policy (``<policy>.rows.jsonl``)."""
    if not policies:
        raise UserError("no policies to compare")
    frames = {}
    for name, policy in policies.items():
        rows_path = None if rows_dir is None else Path(rows_dir) / f"{name}.rows.jsonl"
        frames[name] = reward_report(policy, reward_models, prompts, config, rows_path=rows_path, **kwargs).summary
    return pd.concat(frames, names=["policy", "reward_model"])

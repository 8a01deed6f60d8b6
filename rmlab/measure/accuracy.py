"""Sample-level accuracy of a reward model against a gold reward: on-policy (all pairs of the k samples of each prompt)
and off-policy (one chosen/rejected pair per prompt of a preference dataset).

Tie rules (``ties=``), stated because they change the numbers:

* ``"paper"`` (default; arXiv 2503.15477 Def. 1 and its official code): a pair is correct iff
  sign(r_RM(y) − r_RM(y')) == sign(r_G(y) − r_G(y')) with sign(0) = 0. A gold tie counts as correct only if the RM
  ties too; an RM tie on a pair the gold reward orders counts as wrong. The pairwise sign agreement itself is
  ``rmlab.theory.accuracy.pairwise_accuracy``; this module only arranges samples into its input.
* ``"half"`` (arXiv 2507.07981): accuracy = P(RM orders the pair like the gold) + ½·P(RM ties), over the pairs that
  the gold reward orders strictly; pairs the gold reward ties have no preferred response and are left out (a prompt
  whose pairs all tie gets NaN and is skipped in the mean over prompts).

Off-policy pairs without gold scores: the ``chosen`` response is the gold winner, so the pair is correct iff
r_RM(chosen) > r_RM(rejected); an RM tie is wrong under ``"paper"`` and ½ under ``"half"``. With gold scores (a gold
reward model, or the dataset's ``score_chosen``/``score_rejected`` as in the official recipe) the same rules as
on-policy apply to the pair.

Every function accepts extra leading axes (for vectorised bootstraps).

>>> import numpy as np
>>> gold = np.array([[0.1, 0.5, 0.3]])
>>> float(on_policy_accuracy(np.exp(gold), gold))   # any increasing transform of the gold reward is perfect
1.0
"""

from __future__ import annotations

import numpy as np

from rmlab.theory.accuracy import pairwise_accuracy

TIE_RULES = ("paper", "half")


def _check_ties(ties: str) -> None:
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")


def _check_pair(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
    for x, name in zip((a, b), names):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or infinite values")
    return a, b


def _half_credit(rm_diff: np.ndarray, gold_diff: np.ndarray) -> np.ndarray:
    """1 if the RM orders a gold-ordered pair correctly, ½ if it ties, 0 if it reverses; NaN where the gold ties."""
    score = np.where(rm_diff == 0, 0.5, (np.sign(rm_diff) == np.sign(gold_diff)).astype(np.float64))
    return np.where(gold_diff == 0, np.nan, score)


def on_policy_accuracy_per_prompt(rm_rewards, gold_rewards, *, ties: str = "paper") -> np.ndarray:
    """Accuracy over all k(k−1)/2 pairs of the k samples of each prompt: [..., n, k] x2 -> [..., n]."""
    _check_ties(ties)
    rm, gold = _check_pair(rm_rewards, gold_rewards, ("rm_rewards", "gold_rewards"))
    if rm.ndim < 2 or rm.shape[-1] < 2:
        raise ValueError(f"on-policy accuracy needs rewards of shape [n_prompts, k] with k >= 2, got {rm.shape}")
    if ties == "paper":
        return np.asarray(pairwise_accuracy(rm, gold), dtype=np.float64)
    i, j = np.triu_indices(rm.shape[-1], k=1)
    credit = _half_credit(rm[..., i] - rm[..., j], gold[..., i] - gold[..., j])  # [..., n, n_pairs]
    return nanmean_last(credit)


def on_policy_accuracy(rm_rewards, gold_rewards, *, ties: str = "paper") -> np.ndarray:
    """Mean over prompts of ``on_policy_accuracy_per_prompt`` (NaN prompts skipped): [..., n, k] x2 -> [...]."""
    return nanmean_last(on_policy_accuracy_per_prompt(rm_rewards, gold_rewards, ties=ties))


def tied_pair_fraction(rewards) -> np.ndarray:
    """Fraction of the k(k−1)/2 sample pairs of each prompt whose rewards tie exactly: [..., n, k] -> [..., n].

    Under ``ties="paper"`` every gold-tied pair is wrong unless the RM ties it too, so a discrete gold reward with many
    ties caps the on-policy accuracy of any RM that never ties.

    >>> tied_pair_fraction(np.array([[1.0, 1.0, -1.0]]))   # one of the three pairs ties
    array([0.33333333])
    """
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim < 2 or r.shape[-1] < 2:
        raise ValueError(f"rewards must have shape [n_prompts, k] with k >= 2, got {r.shape}")
    i, j = np.triu_indices(r.shape[-1], k=1)
    return (r[..., i] == r[..., j]).mean(-1)


def text_oracle_rewards(gold_rewards, responses) -> np.ndarray:
    """The best an RM can do on these samples: rewards that order every pair the gold reward orders and tie two samples
    only when their texts are identical (an RM is a function of the text, so it must tie those). Per prompt, the dense
    rank of ``(gold, text)``: [n, k] gold rewards and n lists of k texts -> [n, k].

    >>> text_oracle_rewards(np.array([[0.0, 0.0, 1.0, 0.0]]), [["b", "a", "c", "b"]])
    array([[1., 0., 2., 1.]])
    """
    gold = np.asarray(gold_rewards, dtype=np.float64)
    if gold.ndim != 2 or [len(r) for r in responses] != [gold.shape[1]] * gold.shape[0]:
        raise ValueError(f"gold_rewards must be [n, k] with n lists of k responses, got {gold.shape} and "
                         f"{len(responses)} lists")
    oracle = np.empty_like(gold)
    for n, (g, texts) in enumerate(zip(gold, responses)):
        by_text = {}
        for value, text in zip(g, texts):
            if by_text.setdefault(text, value) != value:
                raise ValueError(f"prompt {n}: the same response has two gold rewards ({by_text[text]} and {value})")
        order = sorted(set(zip(g.tolist(), texts)))
        rank = {key: float(r) for r, key in enumerate(order)}
        oracle[n] = [rank[key] for key in zip(g.tolist(), texts)]
    return oracle


def on_policy_accuracy_bounds(gold_rewards, responses, *, ties: str = "paper") -> dict[str, float]:
    """The on-policy accuracy's ``ceiling`` and ``chance`` on these samples under the tie rule ``ties``.

    ceiling: the accuracy of :func:`text_oracle_rewards`. chance: the expected accuracy of a random function of the
    text (independent continuous scores per distinct text): identical texts tie under both rewards (right under
    ``"paper"``); different texts are ordered by the RM, right with probability ½ where the gold reward orders them
    and wrong under ``"paper"`` where it ties them; ``"half"`` leaves gold-tied pairs out. Mean over prompts as in
    :func:`on_policy_accuracy`.

    >>> bounds = on_policy_accuracy_bounds(np.array([[0.0, 0.0, 1.0]]), [["a", "b", "c"]])
    >>> round(bounds["ceiling"], 4), round(bounds["chance"], 4)     # pair (a, b) ties in gold: wrong for both
    (0.6667, 0.3333)
    """
    _check_ties(ties)
    oracle = text_oracle_rewards(gold_rewards, responses)
    gold = np.asarray(gold_rewards, dtype=np.float64)
    i, j = np.triu_indices(gold.shape[1], k=1)
    same_text = oracle[:, i] == oracle[:, j]
    gold_orders = gold[:, i] != gold[:, j]
    credit = np.where(same_text, 1.0, np.where(gold_orders, 0.5, 0.0))
    if ties == "half":
        credit = np.where(gold_orders, credit, np.nan)
    return {"ceiling": float(on_policy_accuracy(oracle, gold, ties=ties)),
            "chance": float(nanmean_last(nanmean_last(credit)))}


def preference_correct(rm_chosen, rm_rejected, gold_chosen=None, gold_rejected=None, *,
                       ties: str = "paper") -> np.ndarray:
    """Per-pair credit (0, ½ or 1; NaN for gold ties under ``"half"``) of an RM on chosen/rejected pairs: [..., n].

    Without gold scores, ``chosen`` is the gold winner. Pass both ``gold_chosen`` and ``gold_rejected`` or neither.
    """
    _check_ties(ties)
    rm_c, rm_r = _check_pair(rm_chosen, rm_rejected, ("rm_chosen", "rm_rejected"))
    if (gold_chosen is None) != (gold_rejected is None):
        raise ValueError("pass both gold_chosen and gold_rejected, or neither (then chosen is the gold winner)")
    if gold_chosen is None:
        gold_c, gold_r = np.ones_like(rm_c), np.zeros_like(rm_r)
    else:
        gold_c, gold_r = _check_pair(gold_chosen, gold_rejected, ("gold_chosen", "gold_rejected"))
        if gold_c.shape != rm_c.shape:
            raise ValueError(f"gold scores have shape {gold_c.shape}, RM scores {rm_c.shape}")
    if ties == "paper":
        rm, gold = np.stack([rm_c, rm_r], axis=-1), np.stack([gold_c, gold_r], axis=-1)  # [..., n, 2]
        return np.asarray(pairwise_accuracy(rm, gold), dtype=np.float64)
    return _half_credit(rm_c - rm_r, gold_c - gold_r)


def preference_accuracy(rm_chosen, rm_rejected, gold_chosen=None, gold_rejected=None, *,
                        ties: str = "paper") -> np.ndarray:
    """Off-policy accuracy: mean of ``preference_correct`` over pairs (NaN pairs skipped): [..., n] -> [...]."""
    return nanmean_last(preference_correct(rm_chosen, rm_rejected, gold_chosen, gold_rejected, ties=ties))


def nanmean_last(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN (without a warning) where every entry is NaN: [..., n] -> [...]."""
    counted = (~np.isnan(x)).sum(axis=-1)
    return np.where(counted > 0, np.nansum(x, axis=-1) / np.maximum(counted, 1), np.nan)


def normalized_reward_margin(rm_chosen, rm_rejected) -> np.ndarray:
    """The normalised absolute reward margin of arXiv 2507.07981: ``mean |r+ - r-| / (std + 1e-8)`` with the
    unbiased std of all 2n rewards of the evaluation set (the official evaluator's). Scale-free, so RMs of different
    kinds compare. [..., n] -> [...]

    >>> round(float(normalized_reward_margin([1.0, 3.0], [0.0, 0.0])), 6)  # mean |diff| 2; std of (1, 3, 0, 0) = √2
    1.414214
    """
    rm_c, rm_r = _check_pair(rm_chosen, rm_rejected, ("rm_chosen", "rm_rejected"))
    std = np.concatenate([rm_c, rm_r], axis=-1).std(axis=-1, ddof=1)
    return np.abs(rm_c - rm_r).mean(axis=-1) / (std + 1e-8)

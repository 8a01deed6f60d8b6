"""Table 1 of arXiv 2410.08847 on one prompt: a short SFT on (x, y+), then DPO from it on the single-token pair
(y+, y-), tracked at every step; the peak-to-trough decrease of pi(y+), the tokens that gained, and the Table 13
geometry of the two unembedding rows.

pi(y) is the next-token probability of the answer token after the prompt (the ``prob_chosen`` of
:mod:`rmlab.train.dpo`'s tracker); DPO itself runs on answer + EOS, rmlab's response convention (the official persona
code scores the answer token alone; the EOS term is shared by both responses' formats and is small after SFT).
The official runs discard runs whose training loss increased at any step; ``loss_increased`` flags them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax
import transformers

from rmlab._io import atomic_write_json
from rmlab.errors import UserError
from rmlab.lm.batching import padding_id
from rmlab.lm.ches import ches_scores, encode_preference_pairs
from rmlab.lm.data import encode_pairs, load_preferences
from rmlab.lm.displacement import feature_problem, first_order_rates, weight_space_rates_by_direction
from rmlab.lm.load import context_length
from rmlab.lm.score import response_logprobs
from rmlab.theory.displacement import initial_ell_prime, peak_to_trough, projections, rate_preferred
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.loop import OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import sft_nll
from rmlab.train.sft import SFTConfig, train_sft

# Answer-word families for labelling gainers (the paper's benign = same meaning as y+, catastrophic = otherwise).
# Keys are compared after stripping a leading-space marker (BPE "Ġ", SentencePiece "▁", the world's "_") and case.
AFFIRM = frozenset({"yes", "sure", "certainly", "absolutely", "yeah", "yep", "definitely"})
NEGATE = frozenset({"no", "never", "nope", "nah", "negative", "not"})
HEDGE = frozenset({"maybe", "perhaps", "possibly"})


def answer_family(token: str) -> str | None:
    """``"affirm"``, ``"negate"``, ``"hedge"`` or None for a vocabulary token string.

    >>> [answer_family(t) for t in ("ĠYes", "Never", "_No", "Maybe", "the")]
    ['affirm', 'negate', 'negate', 'hedge', None]
    """
    word = token.lstrip("Ġ▁_ ").lower()
    for name, family in (("affirm", AFFIRM), ("negate", NEGATE), ("hedge", HEDGE)):
        if word in family:
            return name
    return None


def gainer_kind(token: str, chosen: str) -> str:
    """``"preferred"`` (y+ itself), ``"benign"`` (same family as y+), ``"catastrophic"`` (another answer family or a
    hedge) or ``"other"`` (not an answer word)."""
    if token == chosen:
        return "preferred"
    family, target = answer_family(token), answer_family(chosen)
    if family is None:
        return "other"
    return "benign" if family == target else "catastrophic"


def sft(policy, tokenizer, prompt: str, response: str, *, steps: int, lr: float, optimizer: str = "rmsprop",
        chat_template: bool = False, seed: int = 0) -> list[dict]:
    """``steps`` updates of the summed NLL of ``response`` + EOS after ``prompt``, in place; returns the metrics."""
    pairs = encode_pairs(tokenizer, [prompt], [response], chat_template=chat_template, context=context_length(policy))
    pad_id = padding_id(tokenizer)

    def step_loss(step, generator):
        logps, mask = response_logprobs(policy, pairs, pad_id)
        return sft_nll(logps, mask).mean(), {}

    return train_loop(policy, step_loss, OptimConfig(steps=steps, optimizer=optimizer, lr=lr, max_grad_norm=None,
                                                     seed=seed), progress=False, description="SFT")


def family_sft(model, tokenizer, prompts: list[str], answer_choices: list, config: SFTConfig, *, seed: int = 0,
               chat_template: bool = False) -> tuple[torch.nn.Module, str]:
    """The SFT phase before Table 1's DPO, as the official persona plans run it: cross-entropy over *every* prompt of
    the yes/no set, each answer drawn at random (seeded) from the family of single tokens that matches that prompt
    (``answer_choices[i]``, a sequence such as ``("No", "Never", "Nope")``). Trains a copy of ``model``; returns it
    and a fingerprint of the phase (config, prompts, drawn answers) to name the SFT'd weights in a cache key.

    >>> sft_model, name = family_sft(model, tokenizer, ["is it ?"], [("Yes", "Sure")], SFTConfig())  # doctest: +SKIP
    """
    if len(prompts) != len(answer_choices):
        raise ValueError(f"{len(prompts)} prompts but {len(answer_choices)} answer families")
    rng = random.Random(seed)
    answers = [rng.choice(list(choices)) for choices in answer_choices]
    policy = copy.deepcopy(model)
    train_sft(policy, tokenizer, prompts, answers, config, chat_template=chat_template, progress=False)
    record = {"config": asdict(config), "seed": seed, "prompts": prompts, "answers": answers}
    return policy, "family-sft-" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


GAINER_STEPS = (5, 25, 100)   # the paper's Tables 4-12 list the top gainers "until step" 5, 25 and 100


def single_prompt_run(model, tokenizer, prompt: str, chosen: str, rejected: str, *, sft_steps: int, sft_lr: float,
                      dpo: DPOConfig, chat_template: bool = False, top_k: int = 3) -> dict:
    """One Table 1 run on a copy of ``model``: SFT, then DPO with tracking at every step. Returns JSON-ready
    ``prob_chosen``/``prob_rejected``/``loss`` per DPO step (index 0 = after SFT), ``peak_to_trough`` with its
    ``peak_step``/``trough_step`` and probabilities, ``loss_increased``, and the ``top_k`` gainers since the start of
    DPO at the trough, at the last step and at each of :data:`GAINER_STEPS` the run reaches (``gainers_at_steps``,
    keyed by the step as a string), each labelled by :func:`gainer_kind`."""
    policy = disable_dropout(copy.deepcopy(model))
    sft_metrics = sft(policy, tokenizer, prompt, chosen, steps=sft_steps, lr=sft_lr, optimizer=dpo.optimizer,
                      chat_template=chat_template, seed=dpo.seed) if sft_steps else []
    config = DPOConfig(**{**asdict(dpo), "track_every": 1, "top_k": top_k, "batch_size": 1})
    pair = load_preferences([{"prompt": prompt, "chosen": chosen, "rejected": rejected}])
    result = train_dpo(policy, tokenizer, pair, config, chat_template=chat_template, progress=False)
    records = sorted(result.tracking, key=lambda row: row["step"])
    if "top_gainers" not in records[0]:
        raise ValueError(f"{chosen!r} / {rejected!r} are not single tokens after the prompt under this tokenizer")
    prob_chosen = [row["top_gainers"]["prob_chosen"] for row in records]
    drop, peak, trough = peak_to_trough(prob_chosen)
    loss = [row["loss"] for row in result.metrics]
    tokens = {name: tokenizer.convert_ids_to_tokens(_single_id(tokenizer, text, prompt, chat_template))
              for name, text in (("chosen", chosen), ("rejected", rejected))}
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "tokens": tokens,
            "prob_chosen": prob_chosen, "prob_rejected": [row["top_gainers"]["prob_rejected"] for row in records],
            "loss": loss, "loss_increased": any(b > a for a, b in zip(loss, loss[1:])),
            "sft_loss": [row["loss"] for row in sft_metrics],
            "peak_to_trough": drop, "peak_step": peak, "trough_step": trough,
            "peak_prob": prob_chosen[peak], "trough_prob": prob_chosen[trough],
            "gainers_at_trough": _labelled(records[trough], tokens["chosen"]),
            "gainers_at_end": _labelled(records[-1], tokens["chosen"]),
            "gainers_at_steps": {str(step): _labelled(records[step], tokens["chosen"])
                                 for step in GAINER_STEPS if step < len(records)}}


def _labelled(record: dict, chosen_token: str) -> list[dict]:
    return [{**g, "kind": gainer_kind(g["token"], chosen_token)} for g in record["top_gainers"]["since_start"]]


def _single_id(tokenizer, text: str, prompt: str, chat_template: bool) -> int:
    (_, ids), = encode_pairs(tokenizer, [prompt], [text], chat_template=chat_template)
    return ids[0]


def unembedding_geometry(model, tokenizer, chosen_token: str, rejected_token: str) -> dict[str, float]:
    """Table 13 for two vocabulary tokens (exact token strings, e.g. ``"ĠYes"``): :func:`projections` of their
    rows of the output embedding."""
    ids = tokenizer.convert_tokens_to_ids([chosen_token, rejected_token])
    unknown = [t for t, i in zip((chosen_token, rejected_token), ids) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ValueError(f"not in the vocabulary: {unknown}")
    W = model.get_output_embeddings().weight.detach().double()
    return {name: float(value) for name, value in projections(W[ids[0]].numpy(), W[ids[1]].numpy()).items()}


def candidate_pair_geometry(model, tokenizer, tokens: list[str], *, top: int = 3) -> list[dict]:
    """Table 13's geometry for every ordered pair of the vocabulary tokens ``tokens`` (exact token strings), with the
    single-token theory's reading of it: ``kappa`` (W-'s projection on W+ in units of ‖W+‖; near 1 means a small
    ``proj`` and displacement-prone) and ``outgrowing``, how many other tokens z have ``<W_z, W+ - W->`` above
    ``<W+, W+ - W->`` (Thm 5: under the DPO push every token moves by its alignment with ``W+ - W-`` plus a shared
    term, so these are pushed up more than y+'s own row term pushes y+), with the ``top`` most aligned of them.
    One dict per pair, ``same_family`` telling whether :func:`answer_family` puts the two in the same family.

    >>> rows = candidate_pair_geometry(model, tokenizer, ["ĠYes", "ĠNo"])  # doctest: +SKIP
    """
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    unknown = [t for t, i in zip(tokens, ids) if i is None or i == tokenizer.unk_token_id]
    if unknown:
        raise ValueError(f"not in the vocabulary: {unknown}")
    W = model.get_output_embeddings().weight.detach().double()
    inner = W @ W[ids].T                                                     # [V, candidates]: <W_z, W_c>
    rows = []
    for a, b in ((a, b) for a in range(len(ids)) for b in range(len(ids)) if ids[a] != ids[b]):
        aligned = inner[:, a] - inner[:, b]                                  # <W_z, W+ - W->
        beats = aligned > aligned[ids[a]]
        beats[[ids[a], ids[b]]] = False
        order = torch.argsort(torch.where(beats, aligned, -torch.inf), descending=True)[:min(top, int(beats.sum()))]
        family = answer_family(tokens[a])
        geometry = projections(W[ids[a]].numpy(), W[ids[b]].numpy())
        rows.append({"plus": tokens[a], "minus": tokens[b],
                     "same_family": family is not None and family == answer_family(tokens[b]),
                     **{name: float(value) for name, value in geometry.items()}, "outgrowing": int(beats.sum()),
                     "top_outgrowing": tokenizer.convert_ids_to_tokens(order.tolist())})
    return rows


def _single_token_pair(tokenizer, prompt: str, chosen: str, rejected: str, *, chat_template: bool
                       ) -> tuple[list[int], int, int]:
    """``(prompt ids, y+ id, y- id)``; ValueError unless each response is one token after ``prompt`` (plus EOS)."""
    (prompt_ids, chosen_ids), (_, rejected_ids) = encode_pairs(tokenizer, [prompt, prompt], [chosen, rejected],
                                                                chat_template=chat_template)
    if len(chosen_ids) != 2 or len(rejected_ids) != 2:                  # the answer token + EOS
        raise ValueError(f"{chosen!r} / {rejected!r} are not single tokens after the prompt under this tokenizer")
    return prompt_ids, chosen_ids[0], rejected_ids[0]


def free_feature_rate(model, tokenizer, prompt: str, chosen: str, rejected: str, *, beta: float = 0.1,
                      chat_template: bool = False) -> dict[str, float]:
    """Thm 4's rate of ``ln pi(y+)`` at the start of DPO (reference = ``model``) if the prompt's last hidden state
    ``h`` and the unembedding were the free parameters of the unconstrained-features model, with the model's own
    ``h`` and ``W``; beside it the norms that decide its sign (``m`` holds ``‖h‖^2``, which always favours y+, against
    the ``‖W‖^2``-sized geometry terms) and the start probabilities. ``chosen``/``rejected`` are response texts that
    must be single tokens after ``prompt``. Raises if the model's logits are not ``W h`` (a bias or a scaled head).

    >>> free_feature_rate(model, tokenizer, "is it ?", "Yes", "No")["rate"]  # doctest: +SKIP
    """
    prompt_ids, plus, minus = _single_token_pair(tokenizer, prompt, chosen, rejected, chat_template=chat_template)
    with torch.no_grad():
        output = model(torch.tensor([prompt_ids]), output_hidden_states=True)
    h = output.hidden_states[-1][0, -1].double().numpy()
    W = model.get_output_embeddings().weight.detach().double().numpy()
    logits = W @ h
    if not np.allclose(logits, output.logits[0, -1].double().numpy(), atol=1e-4 * max(1.0, np.abs(logits).max())):
        raise ValueError("the model's next-token logits are not W h (an output bias or scaling): no free-feature rate")
    plus, minus = np.array([plus]), np.array([minus])
    rate = rate_preferred(h[None], W[None], plus, minus, initial_ell_prime(h[None], W[None], plus, minus, beta=beta))
    probs = softmax(logits)
    return {"rate": float(rate[0]), "h_norm": float(np.linalg.norm(h)),
            "w_plus_norm": float(np.linalg.norm(W[plus[0]])), "w_minus_norm": float(np.linalg.norm(W[minus[0]])),
            "prob_chosen": float(probs[plus[0]]), "prob_rejected": float(probs[minus[0]])}


def first_step_gainer_spearman(model, tokenizer, prompt: str, chosen: str, rejected: str, *, lr: float = 1e-3,
                               beta: float = 0.1, chat_template: bool = False) -> dict[str, float]:
    """Thm 5 in a trained network: Spearman, over the tokens other than y+ and y-, between each token's alignment
    ``<W_z, W+ - W->`` (the model's output embedding at the start) and the change of ``ln pi(z|x)`` after one plain
    gradient step of DPO on the pair (SGD at ``lr``, reference = ``model``: the theorem's first-order regime, not the
    Table 1 protocol's RMSprop). In the unconstrained-features model it is exactly 1; in a network the hidden state
    moves through the body's Jacobian, not along ``W+ - W-`` itself. ``chosen``/``rejected`` must be single tokens
    after ``prompt``. Returns ``spearman``, ``hidden_cosine`` (the cosine between the last hidden state's change and
    ``W+ - W-``: 1 in the unconstrained-features model) and ``prob_chosen`` before the step.

    >>> first_step_gainer_spearman(model, tokenizer, "is it ?", "No", "Never")["spearman"]  # doctest: +SKIP
    """
    from scipy.stats import spearmanr

    prompt_ids, plus, minus = _single_token_pair(tokenizer, prompt, chosen, rejected, chat_template=chat_template)
    policy = disable_dropout(copy.deepcopy(model))

    def next_token():
        with torch.no_grad():
            output = policy(torch.tensor([prompt_ids]), output_hidden_states=True)
        return (torch.log_softmax(output.logits[0, -1].double(), -1).numpy(),
                output.hidden_states[-1][0, -1].double().numpy())

    W = policy.get_output_embeddings().weight.detach().double().numpy()
    before, h_before = next_token()
    config = DPOConfig(loss="dpo", beta=beta, optimizer="sgd", lr=lr, batch_size=1, steps=1)
    pair = load_preferences([{"prompt": prompt, "chosen": chosen, "rejected": rejected}])
    train_dpo(policy, tokenizer, pair, config, chat_template=chat_template, progress=False)
    after, h_after = next_token()
    others = np.setdiff1d(np.arange(len(before)), [plus, minus])
    direction = W[plus] - W[minus]
    moved = h_after - h_before
    return {"spearman": float(spearmanr(W[others] @ direction, after[others] - before[others]).statistic),
            "hidden_cosine": float(moved @ direction / (np.linalg.norm(moved) * np.linalg.norm(direction))),
            "prob_chosen": float(np.exp(before[plus]))}


def first_step_change_by_part(model, tokenizer, prompt: str, chosen: str, rejected: str, *, dpo: DPOConfig,
                              sft_steps: int = 0, sft_lr: float = 0.0, chat_template: bool = False
                              ) -> dict[str, float]:
    """Where the first DPO step of :func:`single_prompt_run` (same arguments: ``sft_steps`` of SFT at ``sft_lr``
    first, then ``dpo`` with the SFT'd model as the reference) moves ``ln pi(y+)`` (the answer token): the change
    when that step is applied to the output embedding alone (``head``), to every other trainable weight alone
    (``body``), and to all of them (``all``), with ``prob_chosen`` before it. RMSprop updates each weight from its
    own gradient, so the partial steps are exactly the whole step's parts (unless ``dpo.max_grad_norm`` clips, by
    each part's own norm then); the changes need not add up, as a step of RMSprop (about ``10 lr sign(grad)`` per
    weight at first) is not small. In the unconstrained-features model the head's part is y+'s and y-'s own rows
    moving along ``±h``, which raises ``ln pi(y+)``; the geometry that can lower it (Thm 4/5) acts through the hidden
    state, i.e. through the body. With tied embeddings (SmolLM2) the head is the input embedding too.

    >>> first_step_change_by_part(model, tokenizer, "is it ?", "No", "Never", dpo=DPOConfig(lr=1e-3))  # doctest: +SKIP
    {'head': 0.69, 'body': -1.22, 'all': -0.79, 'prob_chosen': 0.1}
    """
    policy = disable_dropout(copy.deepcopy(model))
    head = policy.get_output_embeddings().weight
    trainable = [w for w in policy.parameters() if w.requires_grad]
    if not trainable:
        raise UserError("the model has no trainable weights: no DPO step to split")
    if sft_steps:
        sft(policy, tokenizer, prompt, chosen, steps=sft_steps, lr=sft_lr, optimizer=dpo.optimizer,
            chat_template=chat_template, seed=dpo.seed)
    one_step = replace(dpo, steps=1)
    changes = {}
    for part in ("head", "body", "all"):
        for w in trainable:
            w.requires_grad_(part == "all" or (w is head) == (part == "head"))
        if not any(w.requires_grad for w in trainable):                   # e.g. a head the caller froze
            changes[part] = 0.0
            continue
        run = single_prompt_run(policy, tokenizer, prompt, chosen, rejected, sft_steps=0, sft_lr=sft_lr,
                                dpo=one_step, chat_template=chat_template, top_k=1)
        changes[part] = float(np.log(run["prob_chosen"][1]) - np.log(run["prob_chosen"][0]))
    return {**changes, "prob_chosen": run["prob_chosen"][0]}


def mean_pair_geometry(geometries: list[list[dict]]) -> list[dict]:
    """:func:`candidate_pair_geometry` of several models (e.g. one per SFT draw) over the same tokens, averaged per
    ordered pair: the mean of ``kappa``, ``proj``, ``orth`` and ``outgrowing``, the spread ``kappa_min``/``kappa_max``,
    ``models`` (how many) and ``top_outgrowing`` (the tokens listed most often across the models, ties in order of
    first listing; as many as the longest model's list). Pairs keep :func:`candidate_pair_geometry`'s order.

    >>> one = [{"plus": "No", "minus": "Never", "same_family": True, "kappa": 0.9, "proj": 0.1, "orth": 0.3,
    ...         "outgrowing": 2, "top_outgrowing": ["a", "b"]}]
    >>> two = [{**one[0], "kappa": 1.1, "outgrowing": 4, "top_outgrowing": ["b"]}]
    >>> row, = mean_pair_geometry([one, two])
    >>> round(row["kappa"], 6), row["kappa_min"], row["kappa_max"], row["outgrowing"], row["top_outgrowing"]
    (1.0, 0.9, 1.1, 3.0, ['b', 'a'])
    """
    if not geometries:
        raise ValueError("mean_pair_geometry needs the geometry of at least one model")
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for rows in geometries:
        for row in rows:
            by_pair.setdefault((row["plus"], row["minus"]), []).append(row)
    uneven = [pair for pair, rows in by_pair.items() if len(rows) != len(geometries)]
    if uneven:
        raise ValueError(f"the models' geometries cover different pairs, e.g. {uneven[0]}")
    averaged = []
    for (plus, minus), rows in by_pair.items():
        top = _most_listed([token for row in rows for token in row["top_outgrowing"]],
                           max(len(row["top_outgrowing"]) for row in rows))
        averaged.append({"plus": plus, "minus": minus, "same_family": rows[0]["same_family"],
                         **{name: float(np.mean([row[name] for row in rows]))
                            for name in ("kappa", "proj", "orth", "outgrowing")},
                         "kappa_min": min(row["kappa"] for row in rows), "kappa_max": max(row["kappa"] for row in rows),
                         "models": len(rows), "top_outgrowing": top})
    return averaged


def _most_listed(tokens: list[str], n: int) -> list[str]:
    """The ``n`` tokens listed most often in ``tokens``, ties in order of first listing."""
    return sorted(dict.fromkeys(tokens), key=lambda token: -tokens.count(token))[:n]


def near_synonym_choice(rows: list[dict], plus_tokens, *, per_family: int = 1) -> list[tuple[str, str]]:
    """The near-synonym pairs the Table 13 geometry picks before any DPO run: among ``rows`` (from
    :func:`candidate_pair_geometry` or :func:`mean_pair_geometry`) whose two tokens share an :func:`answer_family`
    and whose y+ is one of ``plus_tokens`` (e.g. the answers the SFT phase teaches), the ``per_family`` pairs of
    largest ``kappa`` in each family, families in order of first appearance in ``rows``.

    >>> rows = [{"plus": p, "minus": m, "same_family": s, "kappa": k} for p, m, s, k in [
    ...     ("No", "Never", True, 0.93), ("Never", "No", True, 1.03), ("Yes", "No", False, 1.2),
    ...     ("Sure", "Yes", True, 1.01), ("_Yes", "Yes", True, 1.5)]]
    >>> near_synonym_choice(rows, ["Yes", "Sure", "No", "Never"])
    [('Never', 'No'), ('Sure', 'Yes')]
    """
    plus_tokens = set(plus_tokens)
    eligible = [row for row in rows if row["same_family"] and row["plus"] in plus_tokens]
    by_family: dict[str, list[dict]] = {}
    for row in eligible:
        by_family.setdefault(answer_family(row["plus"]), []).append(row)
    return [(row["plus"], row["minus"]) for family in by_family.values()
            for row in sorted(family, key=lambda row: -row["kappa"])[:per_family]]


def cache_dir() -> Path:
    """Where finished Table 1 runs are kept: ``$RMLAB_CACHE/displacement`` (default ``~/.cache/rmlab/...``)."""
    return Path(os.environ.get("RMLAB_CACHE") or Path.home() / ".cache" / "rmlab").expanduser() / "displacement"


def cached_single_prompt_run(model_id: str, model, tokenizer, prompt: str, chosen: str, rejected: str, *,
                             sft_steps: int, sft_lr: float, dpo: DPOConfig, chat_template: bool = False,
                             top_k: int = 3) -> dict:
    """:func:`single_prompt_run`, its result kept as JSON keyed by everything that determines it (``model_id``
    names the weights: a registered name or a folder; torch and transformers versions included), so a rerun of a
    notebook skips the runs it already did. ``result["cached"]`` says whether it was read back."""
    key = {"model": model_id, "prompt": prompt, "chosen": chosen, "rejected": rejected, "sft_steps": sft_steps,
           "sft_lr": sft_lr, "dpo": asdict(dpo), "chat_template": chat_template, "top_k": top_k,
           "gainer_steps": GAINER_STEPS}
    return _cached(key, lambda: single_prompt_run(model, tokenizer, prompt, chosen, rejected, sft_steps=sft_steps,
                                                  sft_lr=sft_lr, dpo=dpo, chat_template=chat_template, top_k=top_k))


def _cached(key: dict, compute) -> dict:
    """``compute()`` (a JSON-ready dict), kept under :func:`cache_dir` keyed by ``key`` plus the torch and
    transformers versions; ``result["cached"]`` says whether it was read back."""
    key = {**key, "torch": torch.__version__, "transformers": transformers.__version__}
    path = cache_dir() / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]}.json"
    if path.is_file():
        return {**json.loads(path.read_text(encoding="utf-8"))["result"], "cached": True}
    result = compute()
    atomic_write_json(path, {"key": key, "result": result})
    return {**result, "cached": False}


GAINER_KINDS = ("benign", "catastrophic", "other")


def _reported_gainers(result: dict) -> list[dict]:
    """The top gainers a run reports: since the start of DPO, at the trough (at the end if pi(y+) never fell)."""
    return result["gainers_at_trough"] if result["peak_to_trough"] > 0 else result["gainers_at_end"]


def _gaining_tokens(result: dict, kind: str) -> list[str]:
    return list(dict.fromkeys(g["token"] for g in _reported_gainers(result) if g["kind"] == kind and g["gain"] > 0))


def run_summary(result: dict) -> dict:
    """One Table 1 row of a run: the pair, pi(y+) at the peak and the trough, the drop, its steps, stability and the
    top gainers (at the trough, since the start of DPO) by kind."""
    gainers = _reported_gainers(result)
    by_kind = {kind: ", ".join(_gaining_tokens(result, kind)) for kind in GAINER_KINDS}
    return {"pair": f"{result['chosen']} ≻ {result['rejected']}", "drop": result["peak_to_trough"],
            "from": result["peak_prob"], "to": result["trough_prob"], "peak_step": result["peak_step"],
            "trough_step": result["trough_step"], "start": result["prob_chosen"][0], "end": result["prob_chosen"][-1],
            "loss_increased": result["loss_increased"], "top_gainers": ", ".join(g["token"] for g in gainers),
            **{f"{kind}_gainers": value for kind, value in by_kind.items()}}


def pair_summary(results: list[dict], *, threshold: float = 0.2, top: int = 3) -> list[dict]:
    """Table 1 per pair over its runs: ``runs``, ``displaced`` (:func:`displaced_fraction`), ``unstable`` runs, the
    mean ``start``, ``drop``, ``from`` and ``to`` of :func:`run_summary`, and per gainer kind the ``top`` tokens that
    gained (positive gain) in the most runs, as ``"token (runs)"``. Pairs in order of first appearance."""
    rows = []
    for pair, runs in _runs_by_pair(results).items():
        summaries = [run_summary(r) for r in runs]
        row = {"pair": pair, "runs": len(runs), "displaced": displaced_fraction(runs, threshold=threshold),
               "unstable": sum(r["loss_increased"] for r in runs),
               **{name: float(np.mean([s[name] for s in summaries])) for name in ("start", "drop", "from", "to")}}
        for kind in GAINER_KINDS:
            tokens = [token for r in runs for token in _gaining_tokens(r, kind)]
            row[f"{kind}_gainers"] = ", ".join(f"{token} ({tokens.count(token)})"
                                               for token in _most_listed(tokens, top))
        rows.append(row)
    return rows


def _runs_by_pair(results: list[dict]) -> dict[str, list[dict]]:
    """Runs grouped by their pair, ``"y+ ≻ y-"``, in order of first appearance."""
    by_pair: dict[str, list[dict]] = {}
    for result in results:
        by_pair.setdefault(f"{result['chosen']} ≻ {result['rejected']}", []).append(result)
    return by_pair


def gainers_by_step(results: list[dict], *, top: int = 3) -> list[dict]:
    """The paper's Tables 4-12: per pair and per step of :data:`GAINER_STEPS` its runs reach, the ``top`` tokens that
    were among a run's top gainers since the start of DPO in the most runs (``"token (runs)"``), and
    ``chosen_among_top``, the share of those runs in which y+ itself was one of them. Pairs in order of first
    appearance."""
    rows = []
    for pair, runs in _runs_by_pair(results).items():
        for step in GAINER_STEPS:
            listed = [r["gainers_at_steps"][str(step)] for r in runs if str(step) in r["gainers_at_steps"]]
            if not listed:
                continue
            tokens = [g["token"] for gainers in listed for g in gainers if g["gain"] > 0]
            chosen = [any(g["kind"] == "preferred" for g in gainers) for gainers in listed]
            rows.append({"pair": pair, "step": step, "runs": len(listed), "chosen_among_top": float(np.mean(chosen)),
                         "top_gainers": ", ".join(f"{token} ({tokens.count(token)})"
                                                  for token in _most_listed(tokens, top))})
    return rows


def displaced_fraction(results: list[dict], *, threshold: float = 0.2) -> float:
    """Share of runs that are stable (the loss never increased: the official runs discard the others) and whose
    pi(y+) fell peak-to-trough by at least ``threshold``; unstable runs count as not displaced."""
    if not results:
        return 0.0
    return sum(not r["loss_increased"] and r["peak_to_trough"] >= threshold for r in results) / len(results)


def mean_stable_drop(results: list[dict]) -> float:
    """Mean peak-to-trough drop of pi(y+) over the stable runs (the loss never increased), as the paper's Table 1
    averages; NaN when no run is stable.

    >>> mean_stable_drop([{"loss_increased": False, "peak_to_trough": 0.3},
    ...                   {"loss_increased": False, "peak_to_trough": 0.1},
    ...                   {"loss_increased": True, "peak_to_trough": 0.9}])
    0.2
    """
    drops = [r["peak_to_trough"] for r in results if not r["loss_increased"]]
    return sum(drops) / len(drops) if drops else float("nan")


def peak_after_start_fraction(results: list[dict]) -> float:
    """Share of runs whose pi(y+) peaks after step 0 (DPO first raises it, as in the paper's Tables 4-6)."""
    return sum(r["peak_step"] > 0 for r in results) / len(results) if results else 0.0


def plot_runs(results: list[dict], *, title: str):
    """pi(y+) over the DPO steps, one line per run, one colour per pair; the peak-to-trough drop marked."""
    from rmlab import plotting

    fig, ax = plotting.subplots(1, 1, width=6.0, height=3.6)
    pairs = list(dict.fromkeys(f"{r['chosen']} ≻ {r['rejected']}" for r in results))
    for r in results:
        colour = plotting.PALETTE[pairs.index(f"{r['chosen']} ≻ {r['rejected']}") % len(plotting.PALETTE)]
        ax.plot(r["prob_chosen"], color=colour, lw=1.2, ls=":" if r["loss_increased"] else "-", alpha=0.8)
        if r["peak_to_trough"] > 0:
            ax.plot([r["peak_step"], r["trough_step"]], [r["peak_prob"], r["trough_prob"]], "v", color=colour, ms=4)
    for i, pair in enumerate(pairs):
        ax.plot([], [], color=plotting.PALETTE[i % len(plotting.PALETTE)], label=plotting.legend_label(pair))
    ax.plot([], [], color="0.4", ls=":", label="loss rose at some step")
    ax.set(xlabel="DPO step (0 = after SFT)", ylabel="π(y⁺ | x)", ylim=(0, 1), title=title)
    ax.legend(fontsize=7)
    return fig


def observed_chosen_change(result) -> np.ndarray:
    """``ln pi(y+_i)`` after the last step minus at step 0, per tracked pair, from a :class:`DPOResult`."""
    last = max(row["step"] for row in result.tracking)
    logp = {(row["step"], row["index"]): row["logp_chosen"] for row in result.tracking}
    indices = sorted({row["index"] for row in result.tracking})
    return np.array([logp[last, i] - logp[0, i] for i in indices])


def _predictor_axes(displaced, ax, measure: str, **axes_settings):
    """The boolean labels and the panel (a new figure when ``ax`` is None) of :func:`predictor_roc` and
    :func:`predictor_precision_recall`, and whether ``measure`` is undefined because only one class occurs -- then the
    panel says so."""
    from rmlab import plotting

    displaced = np.asarray(displaced, dtype=bool)
    if ax is None:
        _, ax = plotting.subplots(1, 1, width=4.6, height=4.0)
    ax.set(**axes_settings)
    undefined = bool(displaced.all() or not displaced.any())
    if undefined:
        ax.text(0.5, 0.5, f"{measure} undefined:\n{int(displaced.sum())} of {len(displaced)} pairs displaced",
                ha="center", va="center", transform=ax.transAxes)
    return displaced, ax, undefined


def predictor_roc(displaced, scores: dict[str, np.ndarray], *, title: str, ax=None):
    """AUROC of each predictor (higher score = more likely displaced) for the boolean ``displaced``, and a figure of
    their ROC curves (drawn on ``ax`` when given). Returns ``(aurocs, figure)``, ``aurocs`` a dict name -> AUROC.
    When every pair or no pair is displaced the AUROC is undefined: every value is NaN and the panel says so.

    >>> aurocs, _ = predictor_roc([True, False, True], {"s": [0.9, 0.1, 0.5]}, title="t")
    >>> aurocs
    {'s': 1.0}
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    from rmlab import plotting

    displaced, ax, undefined = _predictor_axes(displaced, ax, "AUROC", title=title, xlabel="false positive rate",
                                               ylabel="true positive rate")
    if undefined:
        return {name: float("nan") for name in scores}, ax.figure
    aurocs = {}
    for i, (name, score) in enumerate(scores.items()):
        score = np.asarray(score, dtype=float)
        aurocs[name] = float(roc_auc_score(displaced, score))
        fpr, tpr, _ = roc_curve(displaced, score)
        ax.plot(fpr, tpr, color=plotting.PALETTE[i % len(plotting.PALETTE)], lw=1.4,
                label=f"{name} ({aurocs[name]:.2f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.legend(fontsize=7, title="AUROC", title_fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return aurocs, ax.figure


def predictor_precision_recall(displaced, scores: dict[str, np.ndarray], *, title: str, ax=None):
    """Average precision of each predictor (higher score = more likely displaced) for the boolean ``displaced``, and
    a figure of their precision-recall curves (on ``ax`` when given) with the share of displaced pairs -- a random
    score's precision -- as a dotted line. Returns ``(average_precisions, figure)``. With no displaced pair (or only
    displaced pairs) precision-recall is undefined: every value is NaN and the panel says so.

    >>> average_precisions, _ = predictor_precision_recall([True, False, True, False], {"s": [0.9, 0.1, 0.2, 0.5]},
    ...                                                    title="t")
    >>> round(average_precisions["s"], 4)   # ranks: hit, miss, hit -> (1 + 2/3) / 2
    0.8333
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from rmlab import plotting

    displaced, ax, undefined = _predictor_axes(displaced, ax, "precision-recall", title=title, xlabel="recall",
                                               ylabel="precision", ylim=(0, 1.02))
    if undefined:
        return {name: float("nan") for name in scores}, ax.figure
    average_precisions = {}
    for i, (name, score) in enumerate(scores.items()):
        score = np.asarray(score, dtype=float)
        average_precisions[name] = float(average_precision_score(displaced, score))
        precision, recall, _ = precision_recall_curve(displaced, score)
        ax.step(recall, precision, where="post", color=plotting.PALETTE[i % len(plotting.PALETTE)], lw=1.4,
                label=f"{name} ({average_precisions[name]:.2f})")
    ax.axhline(displaced.mean(), color="0.6", ls=":", lw=1)
    ax.legend(fontsize=7, title="average precision", title_fontsize=7, ncol=2, loc="upper center",
              bbox_to_anchor=(0.5, -0.2))
    return average_precisions, ax.figure


def answer_pair_set(prompts: list[str], answer_pairs: list[tuple[str, str]]) -> list[dict]:
    """A single-token preference set with one pair per prompt: prompt ``i`` gets answer pair ``i mod
    len(answer_pairs)``, as ``prompt``/``chosen``/``rejected`` rows. One pair per prompt keeps the pairs' outcomes
    apart: two pairs on one prompt that share y+ would share ln pi(y+), and one pair's y- could be another's y+.

    >>> answer_pair_set(["p", "q", "r"], [("No", "no"), ("Yes", "No")])[2]
    {'prompt': 'r', 'chosen': 'No', 'rejected': 'no'}
    """
    if not prompts or not answer_pairs:
        raise ValueError("answer_pair_set needs at least one prompt and one answer pair")
    return [{"prompt": prompt, "chosen": answer_pairs[i % len(answer_pairs)][0],
             "rejected": answer_pairs[i % len(answer_pairs)][1]} for i, prompt in enumerate(prompts)]


# The per-pair predictors of the ``displacement_predictor`` figure: keyword arguments of predict_displacement.
FIRST_ORDER_PREDICTORS = {"first order (gradient)": dict(scope="features", direction="gradient"),
                          "first order (RMSprop step)": dict(scope="features", direction="rmsprop"),
                          "first order, all weights (gradient)": dict(scope="weights", direction="gradient"),
                          "first order, all weights (RMSprop step)": dict(scope="weights", direction="rmsprop")}


def predictor_panel(model, tokenizer, rows: list[dict], dpo: DPOConfig, *, chat_template: bool = False,
                    batch_size: int = 8) -> dict:
    """The predictors' scores (higher = more likely displaced) for every pair of ``rows``, computed from ``model``
    before training -- the first-order predictions (:data:`FIRST_ORDER_PREDICTORS`), CHES, LN-CHES, -edit distance
    and the last-hidden inner product -- and the observed change of ln pi(y+_i) after ``dpo`` (one epoch, say) on a
    copy of ``model``. JSON-ready: ``{"scores": {name: [N]}, "observed_dlogp_chosen": [N]}``."""
    preferences = load_preferences(rows)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template,
                                    context=context_length(model))
    by_direction = weight_space_rates_by_direction(model, pairs, padding_id(tokenizer), batch_size=batch_size)
    features = feature_problem(model, pairs, padding_id(tokenizer), batch_size=batch_size)
    scores = {}
    for name, how in FIRST_ORDER_PREDICTORS.items():
        chosen = (by_direction[how["direction"]][0] if how["scope"] == "weights" else
                  first_order_rates(features, direction=how["direction"])[0])
        scores[name] = (-chosen).tolist()
    similarity = ches_scores(model, tokenizer, preferences, batch_size=batch_size, chat_template=chat_template,
                             progress=False)
    scores.update({"CHES": similarity["ches"].tolist(), "LN-CHES": similarity["ln_ches"].tolist(),
                   "-edit distance": (-similarity["edit_distance"]).tolist(),
                   "last hidden inner product": similarity["last_hidden_inner_product"].tolist()})
    epoch = train_dpo(disable_dropout(copy.deepcopy(model)), tokenizer, preferences, dpo,
                      chat_template=chat_template, progress=False)
    return {"scores": scores, "observed_dlogp_chosen": observed_chosen_change(epoch).tolist()}


def cached_predictor_panel(model_id: str, model, tokenizer, rows: list[dict], dpo: DPOConfig, *,
                           chat_template: bool = False) -> dict:
    """:func:`predictor_panel`, kept as JSON under :func:`cache_dir` keyed by ``model_id`` (names the weights), the
    rows, the DPO config and the template; ``result["cached"]`` says whether it was read back."""
    key = {"panel": "displacement_predictor", "model": model_id, "rows": rows, "dpo": asdict(dpo),
           "chat_template": chat_template, "predictors": FIRST_ORDER_PREDICTORS}
    return _cached(key, lambda: predictor_panel(model, tokenizer, rows, dpo, chat_template=chat_template))

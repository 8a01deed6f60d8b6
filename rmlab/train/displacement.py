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
from dataclasses import asdict

from rmlab.lm.batching import padding_id
from rmlab.lm.data import encode_pairs
from rmlab.lm.load import context_length
from rmlab.lm.score import response_logprobs
from rmlab.theory.displacement import peak_to_trough, projections
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.loop import OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import sft_nll

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


def single_prompt_run(model, tokenizer, prompt: str, chosen: str, rejected: str, *, sft_steps: int, sft_lr: float,
                      dpo: DPOConfig, chat_template: bool = False, top_k: int = 3) -> dict:
    """One Table 1 run on a copy of ``model``: SFT, then DPO with tracking at every step. Returns JSON-ready
    ``prob_chosen``/``prob_rejected``/``loss`` per DPO step (index 0 = after SFT), ``peak_to_trough`` with its
    ``peak_step``/``trough_step`` and probabilities, ``loss_increased``, and the ``top_k`` gainers since the start of
    DPO at the trough and at the last step, each labelled by :func:`gainer_kind`."""
    policy = disable_dropout(copy.deepcopy(model))
    sft_metrics = sft(policy, tokenizer, prompt, chosen, steps=sft_steps, lr=sft_lr, optimizer=dpo.optimizer,
                      chat_template=chat_template, seed=dpo.seed) if sft_steps else []
    config = DPOConfig(**{**asdict(dpo), "track_every": 1, "top_k": top_k, "batch_size": 1})
    result = train_dpo(policy, tokenizer, [{"prompt": prompt, "chosen": chosen, "rejected": rejected}], config,
                       chat_template=chat_template, progress=False)
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
            "gainers_at_end": _labelled(records[-1], tokens["chosen"])}


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

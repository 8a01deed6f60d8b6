"""Training of the world's tiny models: base LM (next-token prediction), SFT policies, Bradley-Terry reward models.

Plain AdamW loops on CPU. Bitwise reproducibility: every run seeds torch from the world's seed and draws its batches
from its own ``torch.Generator``; the build pins torch to one thread (:func:`rmlab._threads.single_torch_thread`),
because the reduction order of float sums depends on the thread count.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from transformers import (GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXForSequenceClassification,
                          PreTrainedTokenizerFast)

from rmlab.lm.data import encode_pairs
from rmlab.lm.batching import pad_batch
from rmlab.world.config import WorldConfig


def model_config(config: WorldConfig, tokenizer: PreTrainedTokenizerFast) -> GPTNeoXConfig:
    """A Pythia-style GPT-NeoX config (parallel residual, rotary on 25 % of head dims) with an untied unembedding."""
    return GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=config.d_model, num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads, intermediate_size=config.d_mlp,
        max_position_embeddings=config.context_length, rotary_pct=0.25, use_parallel_residual=True,
        tie_word_embeddings=False, hidden_dropout=0.0, attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)


def encode(tokenizer: PreTrainedTokenizerFast, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _fit(model: torch.nn.Module, loss_of_batch: Callable[[list[int]], torch.Tensor], n_items: int, *, steps: int,
         batch_size: int, lr: float, seed: int, progress) -> list[float]:
    """AdamW with linear warmup (10 %) and cosine decay; batches of item indices drawn with replacement."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + torch.cos(torch.tensor(torch.pi * min(s, steps) / steps)).item()))
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(n_items, (batch_size,), generator=gen).tolist()
        loss = loss_of_batch(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress is not None:
            progress.update(1)
    model.eval()
    return losses


def lm_loss(model, seqs: list[list[int]], loss_starts: list[int], pad_id: int) -> torch.Tensor:
    """Mean next-token cross-entropy over positions >= ``loss_starts[i]`` of each sequence (pads excluded)."""
    ids, mask, _, _ = pad_batch(seqs, pad_id)                                   # right padding: [B, T]
    labels = ids.clone()
    labels[mask == 0] = -100
    for i, start in enumerate(loss_starts):
        labels[i, :start] = -100
    logits = model(input_ids=ids, attention_mask=mask).logits  # [B, T, V]
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                           ignore_index=-100)


def pretrain(config: WorldConfig, tokenizer, docs: list[str], *, progress=None) -> GPTNeoXForCausalLM:
    """The base LM: next-token prediction on every token of each document (each ends with ``<eos>``)."""
    torch.manual_seed(config.seed)
    model = GPTNeoXForCausalLM(model_config(config, tokenizer))
    seqs = [encode(tokenizer, d)[: config.max_length - 1] + [tokenizer.eos_token_id] for d in docs]
    _fit(model, lambda idx: lm_loss(model, [seqs[i] for i in idx], [0] * len(idx), tokenizer.pad_token_id),
         len(seqs), steps=config.pretrain_steps, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
         progress=progress)
    return model


def sft(model: GPTNeoXForCausalLM, tokenizer, pairs: list[tuple[str, str]], *, steps: int, lr: float,
        batch_size: int, seed: int, progress=None) -> GPTNeoXForCausalLM:
    """Supervised finetuning in place: loss on the response tokens and the final ``<eos>`` only."""
    torch.manual_seed(seed)
    encoded = encode_pairs(tokenizer, [p for p, _ in pairs], [r for _, r in pairs])
    seqs = [p + r for p, r in encoded]
    _fit(model, lambda idx: lm_loss(model, [seqs[i] for i in idx], [len(encoded[i][0]) for i in idx],
                                    tokenizer.pad_token_id),
         len(seqs), steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return model


def reward_scores(model: GPTNeoXForSequenceClassification, tokenizer, seqs: list[list[int]]) -> torch.Tensor:
    """Scalar scores [B] of id sequences (prompt + response + EOS, the convention of :mod:`rmlab.lm.data`), read by
    HF at the last non-pad token, i.e. the EOS (the world's pad token differs from its EOS)."""
    ids, mask, _, _ = pad_batch(seqs, tokenizer.pad_token_id)                   # [B, T]
    return model(input_ids=ids, attention_mask=mask).logits[:, 0]


def train_reward_model(model: GPTNeoXForSequenceClassification, tokenizer, rows: list[dict], *, steps: int,
                       lr: float, batch_size: int, seed: int, progress=None) -> GPTNeoXForSequenceClassification:
    """Bradley-Terry in place: minimise ``-log sigmoid(r(x, y+) - r(x, y-))`` over preference rows."""
    torch.manual_seed(seed)
    prompts = [r["prompt"] for r in rows]
    chosen = [p + r for p, r in encode_pairs(tokenizer, prompts, [r["chosen"] for r in rows])]
    rejected = [p + r for p, r in encode_pairs(tokenizer, prompts, [r["rejected"] for r in rows])]

    def loss(idx):
        scores = reward_scores(model, tokenizer, [chosen[i] for i in idx] + [rejected[i] for i in idx])
        return -F.logsigmoid(scores[: len(idx)] - scores[len(idx):]).mean()

    _fit(model, loss, len(rows), steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress)
    return model

"""What is world-specific in training the world's tiny models: the GPT-NeoX architecture, the corpus and SFT data as
token pairs, and the schedules. The loops and losses are :mod:`rmlab.train`'s (``train_loop``, ``sft_nll``, the
explicit reward-model trainer with its Bradley-Terry loss).

Bitwise reproducibility: every run seeds torch from the world's seed and draws its batches from the loop's own
generator; the build pins torch to one thread (:func:`rmlab._threads.single_torch_thread`), because the reduction
order of float sums depends on the thread count.
"""

from __future__ import annotations

import datasets
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

from rmlab.lm.batching import padding_id
from rmlab.lm.data import encode_pairs
from rmlab.lm.score import response_logprobs
from rmlab.train.loop import EpochBatches, OptimConfig, train_loop
from rmlab.train.losses import sft_nll
from rmlab.train.reward_model import RMConfig, train_reward_model
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


def _schedule(steps: int, lr: float, seed: int) -> OptimConfig:
    """AdamW, linear warmup over 10 % of the steps then cosine decay, gradients clipped to norm 1."""
    return OptimConfig(steps=steps, optimizer="adamw", lr=lr, schedule="warmup_cosine", max_grad_norm=1.0, seed=seed)


def fit_token_nll(model, tokenizer, pairs: list[tuple[list[int], list[int]]], optim: OptimConfig, *,
                  batch_size: int, progress, description: str) -> list[dict]:
    """Minimise the mean per-token negative log-likelihood of the response ids of ``(prompt_ids, response_ids)``
    pairs (:func:`rmlab.train.losses.sft_nll` over :func:`rmlab.lm.score.response_logprobs`)."""
    batches = EpochBatches(len(pairs), batch_size)
    pad_id = padding_id(tokenizer)

    def step_loss(step, generator):
        logps, mask = response_logprobs(model, [pairs[i] for i in batches.next(generator)], pad_id)
        return sft_nll(logps, mask).sum() / mask.sum(), {}

    return train_loop(model, step_loss, optim, progress=progress if progress is not None else False,
                      description=description)


def pretrain(config: WorldConfig, tokenizer, docs: list[str], *, progress=None,
             device="cpu") -> GPTNeoXForCausalLM:
    """The base LM, trained on ``device``: next-token prediction on every token of each document after its first
    (each ends with ``<eos>``; documents are cut to ``config.max_length`` tokens). The initial weights are drawn on
    the CPU, so they do not depend on ``device``."""
    torch.manual_seed(config.seed)
    model = GPTNeoXForCausalLM(model_config(config, tokenizer)).to(device)
    ids = tokenizer(docs, add_special_tokens=False)["input_ids"]
    seqs = [list(s)[: config.max_length - 1] + [tokenizer.eos_token_id] for s in ids]
    fit_token_nll(model, tokenizer, [(s[:1], s[1:]) for s in seqs],
                  _schedule(config.pretrain_steps, config.lr, config.seed), batch_size=config.batch_size,
                  progress=progress, description="base LM")
    return model


def sft(model: GPTNeoXForCausalLM, tokenizer, pairs: list[tuple[str, str]], *, steps: int, lr: float,
        batch_size: int, seed: int, progress=None) -> GPTNeoXForCausalLM:
    """Supervised finetuning in place: loss on the response tokens and the final ``<eos>`` only."""
    torch.manual_seed(seed)
    encoded = encode_pairs(tokenizer, [p for p, _ in pairs], [r for _, r in pairs])
    fit_token_nll(model, tokenizer, encoded, _schedule(steps, lr, seed), batch_size=batch_size, progress=progress,
                  description="SFT")
    return model


def explicit_reward_model(model, tokenizer, rows: list[dict], *, steps: int, lr: float, batch_size: int, seed: int,
                          progress=None):
    """Bradley-Terry training in place of a sequence classifier built by :func:`rmlab.lm.load.new_reward_model`
    (:func:`rmlab.train.reward_model.train_reward_model`, explicit kind: AdamW, constant learning rate)."""
    config = RMConfig(kind="explicit", batch_size=batch_size, steps=steps, lr=lr, seed=seed)
    train_reward_model(model, tokenizer, datasets.Dataset.from_list(rows), config,
                       progress=progress if progress is not None else False)
    return model

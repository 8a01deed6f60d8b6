"""Batching helpers shared by every batched forward of rmlab: padding token-id lists on either side with explicit
``position_ids`` (so a left-padded row sees the positions of the unpadded sequence), the padding id, the model's
device, length-sorted batches, the backbone's last hidden states and the name of the key/value cache argument."""

from __future__ import annotations

import inspect
from typing import Sequence

import torch


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, *, side: str = "right", device=None):
    """Pad token-id lists into tensors.

    Returns ``input_ids [B, T]``, ``attention_mask [B, T]``, ``position_ids [B, T]`` (0, 1, ... over the real tokens,
    0 on padding) and ``starts [B]`` (column of each row's first real token: 0 for right padding).
    """
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    lengths = torch.tensor([len(s) for s in sequences])                          # [B]
    width = int(lengths.max())
    starts = width - lengths if side == "left" else torch.zeros_like(lengths)    # [B]
    columns = torch.arange(width)                                                # [T]
    attention_mask = (columns >= starts[:, None]) & (columns < (starts + lengths)[:, None])   # [B, T]
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    # a boolean mask fills row by row, left to right: the order of the concatenated sequences
    input_ids[attention_mask] = torch.tensor([t for seq in sequences for t in seq], dtype=torch.long)
    position_ids = (columns - starts[:, None]).clamp(min=0) * attention_mask
    return (input_ids.to(device), attention_mask.long().to(device), position_ids.to(device), starts.to(device))


def pad_prompt_response_batch(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, *,
                              side: str = "right", device=None):
    """Pad ``(prompt_ids, response_ids)`` pairs as one sequence each and locate their response positions: the one
    home of "which columns are the response" for scoring, training and CHES.

    Returns ``input_ids, attention_mask, position_ids`` (as :func:`pad_batch`), ``columns [B, R]`` and
    ``response_mask [B, R]`` (R: the longest response). ``columns[i, j]`` is the column whose output predicts
    response token j of pair i -- the last prompt token for j = 0, then the response tokens -- so the target of
    ``columns[i, j]`` is ``input_ids[i, columns[i, j] + 1]``; entries past a response's end (``response_mask``
    false) are clamped into the sequence and must be masked by the caller.

    >>> ids, _, _, columns, mask = pad_prompt_response_batch([([5, 6], [7, 8, 9]), ([5], [7])], pad_id=0)
    >>> ids.tolist(), columns.tolist(), mask.tolist()
    ([[5, 6, 7, 8, 9], [5, 7, 0, 0, 0]], [[1, 2, 3], [0, 1, 2]], [[True, True, True], [True, False, False]])
    """
    input_ids, attention_mask, position_ids, starts = pad_batch([list(p) + list(r) for p, r in pairs], pad_id,
                                                                side=side, device=device)
    device = input_ids.device
    prompt_len = torch.tensor([len(p) for p, _ in pairs], device=device)
    response_len = torch.tensor([len(r) for _, r in pairs], device=device)
    offsets = torch.arange(int(response_len.max()), device=device)
    columns = ((starts + prompt_len - 1)[:, None] + offsets).clamp(max=input_ids.shape[1] - 2)
    return input_ids, attention_mask, position_ids, columns, offsets < response_len[:, None]


def padding_id(tokenizer) -> int:
    """The id used to fill padding (never attended to, never read): the pad token, else EOS."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an EOS token; load it with rmlab.lm.load")
    return pad


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def cache_keyword(module) -> str:
    """The name under which ``module.forward`` takes and returns the key/value cache: ``cache`` from transformers
    5.24 on (where ``past_key_values`` is deprecated, to be removed in 5.40), ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), to waste little compute on padding."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def last_hidden_state(model, input_ids, attention_mask, position_ids) -> torch.Tensor:
    """Last-layer hidden states ``[B, T, d]`` of the backbone (after its final norm: the vectors the LM head or the
    reward head multiplies). Only the last layer is kept (no ``output_hidden_states``)."""
    backbone = model.base_model
    if backbone is model:
        raise ValueError(f"{type(model).__name__} exposes no separate backbone (model.base_model)")
    out = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
    return out.last_hidden_state

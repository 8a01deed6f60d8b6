"""Seeded sampling: reproducible, independent of batch composition, plain (no hidden top-k)."""

import numpy as np
import pytest
import torch

from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import filter_logits, sample_responses, sample_token_ids
from tiny_models import PAIRS, tiny  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS]


@pytest.fixture(scope="module")
def policy(tiny):
    return load_causal_lm(tiny.causal_lm("llama", tokenizer="bos"))


def test_same_seed_same_samples_whatever_the_batching(policy):
    kwargs = dict(max_new_tokens=10, progress=False)
    a = sample_responses(*policy, PROMPTS, 3, seed=7, batch_size=3, **kwargs)
    b = sample_responses(*policy, PROMPTS, 3, seed=7, batch_size=15, **kwargs)
    c = sample_responses(*policy, PROMPTS[3:], 3, seed=7, batch_size=1, indices=[3, 4], **kwargs)  # a resume
    assert len(a) == len(PROMPTS) and all(len(row) == 3 for row in a)
    assert a == b and a[3:] == c
    assert len({s for row in a for s in row}) > len(PROMPTS)                    # samples actually differ
    assert sample_responses(*policy, PROMPTS, 3, seed=8, batch_size=3, **kwargs) != a


def test_top_k_zero_really_samples_from_the_whole_vocabulary(policy):
    model, tokenizer = policy
    prompt = PROMPTS[0]
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer(prompt)["input_ids"]])).logits[0, -1]
    order = torch.argsort(logits, descending=True).tolist()
    assert torch.softmax(logits, -1)[order[50:]].sum().item() > 0.5            # a random tiny model: flat

    def texts(token_ids):  # what a one-token response decodes to (EOS -> empty response)
        return {"" if t == tokenizer.eos_token_id else tokenizer.decode([t], skip_special_tokens=True)
                for t in token_ids}

    def first_tokens(n, **options):
        return sample_responses(model, tokenizer, [prompt], n, max_new_tokens=1, batch_size=256, progress=False,
                                **options)[0]
    top_50 = texts(order[:50])
    assert np.mean([r not in top_50 for r in first_tokens(200, top_k=0)]) > 0.3  # top_k=50 would give 0
    assert set(first_tokens(100, top_k=5)) <= texts(order[:5])


def test_filter_logits():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.5)).tolist() == [[False, True, True, True]]
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2)


def test_prompt_plus_new_tokens_beyond_context_is_an_error(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", context=16))
    with pytest.raises(ValueError, match="prompt 1: .* exceed the model's context of 16"):
        sample_responses(model, tokenizer, ["the cat", "the cat sat on the mat"], 2, max_new_tokens=12)


def test_chat_template_prompts(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("qwen2", tokenizer="chat"))
    out = sample_responses(model, tokenizer, PROMPTS[:2], 2, max_new_tokens=5, chat_template=True, progress=False)
    assert len(out) == 2 and all(isinstance(s, str) for row in out for s in row)


def test_token_ids_are_the_samples_before_decoding(policy):
    model, tokenizer = policy
    kwargs = dict(max_new_tokens=10, seed=7, progress=False)
    ids = sample_token_ids(model, tokenizer, PROMPTS, 3, **kwargs)
    texts = sample_responses(model, tokenizer, PROMPTS, 3, **kwargs)
    eos = tokenizer.eos_token_id
    for group, decoded in zip(ids, texts):
        for response, text in zip(group, decoded):
            assert eos not in response[:-1]                                  # cut right after the first EOS
            assert response[-1] == eos or len(response) == 10
            assert tokenizer.decode([t for t in response if t != eos], skip_special_tokens=True) == text

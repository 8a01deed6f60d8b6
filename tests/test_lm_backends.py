"""The sampling-backend contract (rmlab.lm.backends), the vLLM side tested with a fake engine (vLLM needs a GPU and
is not installed here): the requests carry rmlab's prompt token ids, the sampling settings and one seed per
(prompt, sample); responses come back k per prompt in order, cut after the first EOS (kept); the policy's weights
reach the engine whenever they changed (RLOO); a missing vLLM is a clear error naming the flag."""

import copy
import importlib.util
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import torch

from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.lm.backends import HFBackend, VLLMBackend, check_backend, make_backend
from rmlab.lm.data import encode_prompt
from rmlab.lm.load import load_causal_lm
from rmlab.lm.report import reward_report
from rmlab.lm.sample import eos_token_ids, row_seed, sample_responses, sample_token_ids
from rmlab.train.pg import PGConfig, train_pg
from tiny_models import PAIRS, count_yes, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS]


@dataclass
class Params:                       # the fields of vllm.SamplingParams that the backend sets
    n: int
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repetition_penalty: float
    max_tokens: int
    stop_token_ids: list
    seed: int
    detokenize: bool


@dataclass
class FakeEngine:
    """A vLLM-like engine over its own copy of an HF model: per-request seeded multinomial sampling, token by token,
    stopping at ``stop_token_ids``; ``keep_stop``: whether the stop token is in the returned ids; ``stop_bias``: added
    to the stop tokens' logits (a random tiny model almost never stops by itself)."""

    model: torch.nn.Module
    keep_stop: bool = True
    stop_bias: float = 0.0
    calls: list = field(default_factory=list)

    @torch.no_grad()
    def generate(self, requests, params, use_tqdm=True):
        self.calls.append((requests, params))
        return [SimpleNamespace(outputs=[self._complete(r["prompt_token_ids"], p)]) for r, p in zip(requests, params)]

    def _complete(self, prompt, p: Params):
        generator, ids = torch.Generator().manual_seed(p.seed), list(prompt)
        for _ in range(p.max_tokens):
            logits = self.model(torch.tensor([ids])).logits[0, -1].double() / p.temperature
            logits[p.stop_token_ids] += self.stop_bias
            token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
            ids.append(token)
            if token in p.stop_token_ids:
                new = ids[len(prompt):] if self.keep_stop else ids[len(prompt):-1]
                return SimpleNamespace(token_ids=new, finish_reason="stop", stop_reason=None)
        return SimpleNamespace(token_ids=ids[len(prompt):], finish_reason="length", stop_reason=None)


def response_length(prompts, responses):
    return [float(len(r)) for r in responses]


def load_into_fake(engine, model):
    engine.model.load_state_dict(model.state_dict())


@pytest.fixture(scope="module")
def policy(tiny):
    return load_causal_lm(tiny.causal_lm("llama", tokenizer="bos"))


def backend_for(model, **engine_options):
    engine = FakeEngine(copy.deepcopy(model).eval(), **engine_options)
    return VLLMBackend(engine, sampling_params=Params, load_weights=load_into_fake), engine


def test_requests_carry_the_prompt_ids_the_settings_and_one_seed_per_row(policy):
    model, tokenizer = policy
    backend, engine = backend_for(model)
    backend.sample_token_ids(model, tokenizer, PROMPTS[:2], 3, max_new_tokens=5, seed=7, indices=[4, 9],
                             progress=False)
    (requests, params), = engine.calls
    assert [r["prompt_token_ids"] for r in requests] == [encode_prompt(tokenizer, p) for p in PROMPTS[:2]
                                                         for _ in range(3)]
    assert [p.seed for p in params] == [row_seed(7, i, j) for i in (4, 9) for j in range(3)]
    assert len({p.seed for p in params}) == 6
    first = params[0]
    assert (first.n, first.temperature, first.top_k, first.top_p, first.min_p, first.repetition_penalty,
            first.max_tokens) == (1, 1.0, -1, 1.0, 0.0, 1.0, 5)
    assert first.stop_token_ids == eos_token_ids(model, tokenizer)


def test_responses_are_k_per_prompt_in_order_and_cut_after_a_kept_eos(policy):
    model, tokenizer = policy
    eos = eos_token_ids(model, tokenizer)
    runs = []
    for keep_stop in (True, False):
        backend, _ = backend_for(model, keep_stop=keep_stop, stop_bias=5.0)
        runs.append(backend.sample_token_ids(model, tokenizer, PROMPTS, 3, max_new_tokens=6, seed=1, progress=False))
    assert runs[0] == runs[1]                           # EOS kept whether or not the engine returns it
    ids = runs[0]
    assert len(ids) == len(PROMPTS) and all(len(group) == 3 for group in ids)
    rows = [r for group in ids for r in group]
    assert any(r and r[-1] in eos for r in rows) and any(len(r) == 6 and r[-1] not in eos for r in rows)
    assert all(t not in eos for r in rows for t in r[:-1])


def test_samples_do_not_depend_on_batching_and_a_resume_reproduces_them(policy):
    model, tokenizer = policy
    backend, _ = backend_for(model)
    texts = sample_responses(model, tokenizer, PROMPTS, 2, seed=5, max_new_tokens=4, progress=False,
                             sampler=backend.sample_token_ids)
    resumed = sample_responses(model, tokenizer, PROMPTS[3:], 2, seed=5, max_new_tokens=4, progress=False,
                               indices=[3, 4], sampler=backend.sample_token_ids)
    assert texts[3:] == resumed and len({t for g in texts for t in g}) > len(PROMPTS)


def test_the_hf_backend_is_rmlabs_sampler(policy):
    model, tokenizer = policy
    settings = dict(max_new_tokens=6, seed=3, progress=False)
    assert HFBackend().sample_token_ids(model, tokenizer, PROMPTS, 2, **settings) == \
        sample_token_ids(model, tokenizer, PROMPTS, 2, **settings)


def test_rloo_copies_the_updated_weights_into_the_engine_before_sampling(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("llama", tokenizer="bos"))
    backend, engine = backend_for(model)
    synced = []

    def load_weights(engine, model):
        synced.append({k: v.clone() for k, v in model.state_dict().items()})
        load_into_fake(engine, model)

    backend.load_weights = load_weights
    sampled_with = []

    def sampler(model, *args, **kwargs):                          # the engine's weights at sampling time
        ids = backend.sample_token_ids(model, *args, **kwargs)
        sampled_with.append(all(torch.equal(v, engine.model.state_dict()[k]) for k, v in model.state_dict().items()))
        return ids

    config = PGConfig(k=2, steps=3, batch_prompts=2, max_new_tokens=4, lr=1e-2, normalization_prompts=2)
    train_pg(model, tokenizer, PROMPTS, response_length, config, progress=False, sampler=sampler)
    assert sampled_with == [True] * 4 and len(synced) == 3     # normalisation + 3 steps; step 1 = initial weights
    assert not all(torch.equal(synced[0][k], synced[-1][k]) for k in synced[0])
    assert len(engine.calls) == 4


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_backend_choice_errors_name_the_flag(tiny, tmp_path, capsys):
    assert check_backend("hf") == "hf"
    with pytest.raises(UserError, match="--backend must be one of hf, vllm"):
        check_backend("tgi")
    with pytest.raises(UserError, match="--backend vllm needs the policy as a model folder"):
        make_backend("vllm")
    with pytest.raises(UserError, match=r"--backend vllm needs vLLM \(pip install vllm"):
        check_backend("vllm", model_path="m")
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in PROMPTS])
    code = main(["rloo", "--policy", str(tiny.causal_lm("gpt2")), "--rm", "r=py:tiny_models:count_yes", "--prompts",
                 str(prompts), "--out", str(tmp_path / "run"), "--backend", "vllm"])
    assert code == 2 and "--backend vllm needs vLLM" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_report_samples_through_the_given_backend_and_records_it(policy):
    model, tokenizer = policy
    backend, engine = backend_for(model)
    report = reward_report((model, tokenizer), {"length": response_length}, PROMPTS, k=2, max_new_tokens=4, seed=2,
                           backend="vllm", sampler=backend, progress=False, n_bootstrap=20)
    assert len(engine.calls) >= 1 and report.arguments["backend"] == "vllm" and report.config["backend"] == "vllm"
    again, _ = backend_for(model)
    assert report.responses == sample_responses(model, tokenizer, PROMPTS, 2, max_new_tokens=4, seed=2,
                                                progress=False, sampler=again.sample_token_ids)
    hf = reward_report((model, tokenizer), {"length": response_length}, PROMPTS, k=2, max_new_tokens=4, seed=2,
                       progress=False, n_bootstrap=20)
    assert hf.responses == sample_responses(model, tokenizer, PROMPTS, 2, max_new_tokens=4, seed=2, progress=False)

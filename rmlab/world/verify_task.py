"""Verify without generating, learned (arXiv 2507.07981 Sec. 3.2 analog): an implicit RM trained on Hamiltonian
cycles ranks correct cycles above incorrect ones while its own policy still almost never writes one.

**The task** (:mod:`rmlab.theory.verify` for the graphs and the check): a graph with ``n`` vertices, a planted
Hamiltonian cycle and each other edge with probability ``p``. The paper uses n = 10, p = 0.2, so 38 % of vertex
pairs are edges; here n = 7 (a shorter answer for a CPU model) with p = 0.1 keeps that density (40 %), so a random
walk misses about as many edges as the paper's rejected answers do (with p = 0.2 at n = 7, 48 %, many rejected
walks miss a single edge and the measured accuracy stalls near 0.92). The prompt lists the
graph's edges, shuffled, one token per edge (``graph e03 e15 ... >``); a response is a closed walk through all
vertices written as its ``n`` edges in walk order. It is correct iff it is a Hamiltonian cycle *of the graph*.
Chosen: the planted cycle (random start and direction); rejected: the walk of a random vertex ordering that is not
a cycle of the graph. Why one token per edge, where the paper writes vertex lists: chosen and rejected are both
closed walks through every vertex, so a verifier only has to notice an edge that is not in the prompt. With an edge
as a token that is a membership test a 2-layer model learns in a few hundred CPU steps; with vertex tokens it needs
a two-token look-up (an induction circuit) that Pythia-1B brings from pretraining and a from-scratch CPU model does
not. Generating stays the Hamiltonian-cycle problem either way.

**The models.** A tiny GPT-NeoX LM is first trained on the format with *random* orderings as responses
(:func:`train_reference`): it writes well-formed closed walks but knows nothing of the graph, so its chance of a
correct cycle is about the uniform rate ``#cycles * 2n / n!``. An IM-RM (``r = beta ln pi/pi_ref``, beta = 0.01) is
trained from it with :func:`rmlab.train.reward_model.train_reward_model` on (cycle, non-cycle) pairs; its test
accuracy and its policy's generation success (T = 1, one sample per test graph) are then measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import datasets
import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

from rmlab import plotting
from rmlab._threads import single_torch_thread
from rmlab.lm.batching import padding_id
from rmlab.lm.data import encode_pairs
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import response_logprobs, sequence_logprobs
from rmlab.theory.verify import Graph, cycle_edges, cycle_writings, hamiltonian_cycles, planted_graph
from rmlab.train.loop import EpochBatches, OptimConfig, train_loop
from rmlab.train.losses import sft_nll
from rmlab.train.reward_model import RMConfig, evaluate_reward_model, train_reward_model

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclass(frozen=True)
class VerifyTaskConfig:
    """Sizes of the task and of the training (quick: :func:`quick_verify_config`)."""

    n_vertices: int = 7
    edge_p: float = 0.1               # 40 % of vertex pairs are edges (the paper, n = 10, p = 0.2: 38 %)
    train_pairs: int = 2000           # the paper: 1000 train / 200 test graphs (a from-scratch model needs more)
    test_pairs: int = 200
    reference_docs: int = 4000        # (graph, random walk) documents teaching the format
    reference_steps: int = 1200
    copy_fraction: float = 0.5        # share of reference documents that copy the edge list ("edges ... >")
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3                  # reference training
    rm_lr: float = 1e-3               # IM-RM training (AdamW, no schedule)
    rm_epochs: int = 8
    beta: float = 0.01                # 2507.07981's beta
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self):
        if not 3 <= self.n_vertices <= 10:
            raise ValueError(f"n_vertices must be in 3..10 (edge tokens use one digit per vertex), got "
                             f"{self.n_vertices}")


def quick_verify_config(seed: int = 0) -> VerifyTaskConfig:
    return VerifyTaskConfig(train_pairs=1000, test_pairs=200, reference_docs=3000, reference_steps=800, seed=seed)


def edge_token(u: int, v: int) -> str:
    return f"e{min(u, v)}{max(u, v)}"


def build_tokenizer(n_vertices: int) -> PreTrainedTokenizerFast:
    """Word-level: the specials, ``graph``, ``>`` and one token per possible edge."""
    edges = [edge_token(u, v) for u in range(n_vertices) for v in range(u + 1, n_vertices)]
    vocab = {w: i for i, w in enumerate(SPECIALS + ("graph", "edges", ">") + tuple(edges))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", clean_up_tokenization_spaces=False, model_max_length=64)


def prompt_text(graph: Graph, rng: np.random.Generator, head: str = "graph") -> str:
    edges = sorted(graph.edges)
    return " ".join([head] + [edge_token(*edges[i]) for i in rng.permutation(len(edges))] + [">"])


def _reference_document(graph: Graph, rng: np.random.Generator, copy: bool) -> tuple[str, str]:
    """A cycle-task prompt with the walk of a random ordering, or (``copy``) an ``edges`` prompt with its edges
    listed again in a random order: the in-context copying a pretrained LM brings, kept apart from the task."""
    if copy:
        edges = sorted(graph.edges)
        return prompt_text(graph, rng, "edges"), " ".join(edge_token(*edges[i]) for i in rng.permutation(len(edges)))
    return prompt_text(graph, rng), walk_text(rng.permutation(graph.n))


def walk_text(order) -> str:
    """The closed walk through ``order`` as its edge tokens."""
    return " ".join(edge_token(u, v) for u, v in cycle_edges(order))


def walk_order(text: str, n: int) -> list[int] | None:
    """The vertex order of a response if it is a closed walk visiting each of the ``n`` vertices once, else None."""
    edges = []
    for word in text.split():
        if len(word) != 3 or word[0] != "e" or not word[1:].isdigit():
            return None
        edges.append((int(word[1]), int(word[2])))
    if len(edges) != n:
        return None
    for start in edges[0]:
        order, current = [], start
        for u, v in edges:
            if current not in (u, v):
                break
            order.append(current)
            current = v if current == u else u
        else:
            if current == start and sorted(order) == list(range(n)):
                return order
    return None


def is_correct(graph: Graph, response: str) -> bool:
    """Whether ``response`` is a Hamiltonian cycle of ``graph`` written as its edges in walk order."""
    order = walk_order(response, graph.n)
    return order is not None and all(e in graph.edges for e in cycle_edges(order))


@dataclass
class VerifySplit:
    graphs: list[Graph]
    prompts: list[str]
    pairs: datasets.Dataset


def make_split(config: VerifyTaskConfig, count: int, purpose: str) -> VerifySplit:
    """``count`` graphs, their prompts and one (planted cycle, non-cycle walk) pair each."""
    rng = np.random.default_rng([config.seed, sum(map(ord, purpose))])
    graphs, prompts, rows = [], [], []
    for _ in range(count):
        graph = planted_graph(config.n_vertices, config.edge_p, rng)
        prompt = prompt_text(graph, rng)
        start, step = rng.integers(graph.n), rng.choice([-1, 1])
        planted = [graph.planted[(start + step * i) % graph.n] for i in range(graph.n)]
        while True:
            wrong = walk_text(rng.permutation(graph.n))
            if not is_correct(graph, wrong):
                break
        graphs.append(graph)
        prompts.append(prompt)
        rows.append({"prompt": prompt, "chosen": walk_text(planted), "rejected": wrong})
    return VerifySplit(graphs, prompts, datasets.Dataset.from_list(rows))


def new_language_model(config: VerifyTaskConfig, tokenizer) -> GPTNeoXForCausalLM:
    torch.manual_seed(config.seed)
    return GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=config.d_model, num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads, intermediate_size=4 * config.d_model, max_position_embeddings=64,
        rotary_pct=0.25, tie_word_embeddings=False, hidden_dropout=0.0, attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def train_reference(config: VerifyTaskConfig, tokenizer, *, progress=False) -> GPTNeoXForCausalLM:
    """The reference LM: next-token loss on (graph prompt, walk of a *random* ordering) documents, so that it writes
    the format but is blind to the graph, mixed with edge-copying documents (:func:`_reference_document`)."""
    rng = np.random.default_rng([config.seed, 7])
    docs = [_reference_document(planted_graph(config.n_vertices, config.edge_p, rng), rng,
                                rng.random() < config.copy_fraction) for _ in range(config.reference_docs)]
    pairs = encode_pairs(tokenizer, [p for p, _ in docs], [r for _, r in docs])
    model = new_language_model(config, tokenizer)
    pad_id, batches = padding_id(tokenizer), EpochBatches(len(pairs), config.batch_size)

    def step_loss(step, generator):
        logps, mask = response_logprobs(model, [pairs[i] for i in batches.next(generator)], pad_id)
        return sft_nll(logps, mask, reduction="mean").mean(), {}

    train_loop(model, step_loss, OptimConfig(steps=config.reference_steps, lr=config.lr, schedule="warmup_cosine",
                                             seed=config.seed), progress=progress, description="reference LM")
    return model.eval()


def correct_probability(model, tokenizer, split: VerifySplit) -> np.ndarray:
    """Per graph, the exact probability that ``model`` writes a correct answer: the sum of pi(y|x) (EOS included)
    over every writing of every Hamiltonian cycle of the graph (a short list, so no sampling is needed)."""
    prompts, responses, owner = [], [], []
    for i, (graph, prompt) in enumerate(zip(split.graphs, split.prompts)):
        for cycle in hamiltonian_cycles(graph):
            for order in cycle_writings(cycle):
                prompts.append(prompt)
                responses.append(walk_text(order))
                owner.append(i)
    logps = sequence_logprobs(model, tokenizer, prompts, responses, batch_size=64)["logprob_sum"]
    return np.bincount(owner, weights=np.exp(logps), minlength=len(split.graphs))


def generation_success(model, tokenizer, split: VerifySplit, seed: int) -> dict[str, float]:
    """One sample per test graph at T = 1: the share that are Hamiltonian cycles of their graph (``success``) and
    the share that are well-formed closed walks through every vertex (``well_formed``); and ``probability``: the
    mean over graphs of the exact probability of a correct answer (:func:`correct_probability`)."""
    samples = sample_responses(model, tokenizer, split.prompts, 1, max_new_tokens=split.graphs[0].n + 1,
                               temperature=1.0, seed=seed, progress=False)
    responses = [s[0] for s in samples]
    return {"probability": float(correct_probability(model, tokenizer, split).mean()),
            "success": float(np.mean([is_correct(g, r) for g, r in zip(split.graphs, responses)])),
            "well_formed": float(np.mean([walk_order(r, g.n) is not None for g, r in zip(split.graphs, responses)]))}


@dataclass
class VerifyResult:
    """What the demonstration measured (``config`` as a dict); rates are over the test graphs."""

    config: dict
    rm_metrics: dict            # evaluate_reward_model on the test pairs (accuracy with ties ½, margin, ...)
    rm_train_accuracy: float
    policy: dict                # generation_success of the IM-RM's policy
    reference: dict             # ... of the reference LM it started from
    uniform_rate: float         # mean over test graphs of #cycles * 2n / n! (a uniform random ordering)
    chosen_rewards: np.ndarray
    rejected_rewards: np.ndarray
    training_loss: np.ndarray


def verify_without_generating(config: VerifyTaskConfig, *, progress=False) -> VerifyResult:
    """Build the task, train the reference LM and the IM-RM, measure verification and generation (one thread)."""
    tokenizer = build_tokenizer(config.n_vertices)
    train, test = make_split(config, config.train_pairs, "train"), make_split(config, config.test_pairs, "test")
    with single_torch_thread():
        reference = train_reference(config, tokenizer, progress=progress)
        before = generation_success(reference, tokenizer, test, seed=config.seed)
        trained = train_reward_model(reference, tokenizer, train.pairs, RMConfig(
            kind="implicit", beta=config.beta, lr=config.rm_lr, epochs=config.rm_epochs,
            batch_size=config.batch_size, seed=config.seed), progress=progress)
        columns = test.pairs.to_dict()
        chosen = trained.reward(columns["prompt"], columns["chosen"])
        rejected = trained.reward(columns["prompt"], columns["rejected"])
        return VerifyResult(
            asdict(config), evaluate_reward_model(trained.reward, test.pairs),
            evaluate_reward_model(trained.reward, train.pairs)["accuracy"],
            generation_success(trained.model, tokenizer, test, seed=config.seed + 1), before,
            float(np.mean([len(hamiltonian_cycles(g)) * 2 * g.n / np.prod(range(1, g.n + 1)) for g in test.graphs])),
            np.asarray(chosen), np.asarray(rejected), np.array([m["loss"] for m in trained.metrics]))


def plot_verify(sweep: dict, result: VerifyResult):
    """Left: Thm 1's construction by enumeration -- pi(C) of the tilted policy against delta/beta, its closed form,
    the bound e^{delta/beta} pi_ref(C), and the IM-RM's accuracy (1 at every delta). Middle: the trained IM-RM's
    test accuracy next to its policy's exact probability of a correct answer and sampled success, the reference's
    probability, a uniform ordering's, and the share of well-formed samples (walks through every vertex).
    Right: the trained IM-RM's rewards of correct and incorrect test responses."""
    fig, (ax_thm, ax_bar, ax_hist) = plotting.subplots(1, 3, width=4.4, height=3.5)
    k = sweep["delta_over_beta"]
    ax_thm.semilogy(k, sweep["pi_correct"], "o", color=plotting.PALETTE[1], label="π(C), enumerated")
    ax_thm.semilogy(k, sweep["closed_form"], "-", color=plotting.PALETTE[1], lw=1, label="closed form")
    ax_thm.semilogy(k, sweep["bound"], "--", color="0.4", label=r"bound $e^{\delta/\beta}\,\pi_{ref}(C)$")
    ax_thm.axhline(sweep["pi_ref_correct"][0], color=plotting.PALETTE[2], ls=":", label="π_ref(C)")
    ax_thm.set(xlabel="margin δ / β", ylabel="probability of a correct cycle", ylim=(None, 2),
               title=f"Thm 1: accuracy {sweep['accuracy'].min():.0f} at every δ")
    ax_thm.legend(fontsize=7)
    bars = {"IM-RM\naccuracy": result.rm_metrics["accuracy"], "policy\nP(correct)": result.policy["probability"],
            "policy\nsampled": result.policy["success"], "ref.\nP(correct)": result.reference["probability"],
            "uniform\nordering": result.uniform_rate, "policy\nwell-formed": result.policy["well_formed"],
            "ref.\nwell-formed": result.reference["well_formed"]}
    colors = [plotting.PALETTE[1]] + [plotting.PALETTE[3]] * 4 + ["0.6"] * 2
    ax_bar.bar(range(len(bars)), list(bars.values()), color=colors)
    for i, v in enumerate(bars.values()):
        ax_bar.text(i, v + 0.02, f"{v:.3f}", ha="center", fontsize=7)
    ax_bar.set_xticks(range(len(bars)), list(bars), fontsize=7)
    ax_bar.set(ylim=(0, 1.1), title=f"Learned: n = {result.config['n_vertices']}, β = {result.config['beta']}")
    edges = np.histogram_bin_edges(np.concatenate([result.chosen_rewards, result.rejected_rewards]), 30)
    ax_hist.hist(result.chosen_rewards, edges, alpha=0.6, color=plotting.PALETTE[2], label="Hamiltonian cycle")
    ax_hist.hist(result.rejected_rewards, edges, alpha=0.6, color=plotting.PALETTE[3], label="not a cycle")
    ax_hist.set(xlabel="IM-RM reward β ln π/π_ref (test)", ylabel="responses", title="Test rewards")
    ax_hist.legend(fontsize=7)
    return fig

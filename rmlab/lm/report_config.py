"""The settings of :func:`rmlab.lm.report.reward_report`, in a module light enough for the CLI to take its defaults
from (no torch or transformers import)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rmlab.errors import UserError, check_device, check_int_range, check_positive_finite
from rmlab.measure.accuracy import TIE_RULES
from rmlab.measure.bootstrap import DEFAULT_RESAMPLES
from rmlab.measure.variance import ZERO_STD_ATOL


@dataclass(frozen=True)
class ReportConfig:
    """How :func:`reward_report` samples and summarises; ``dataclasses.asdict(config)`` is recorded in the report.

    k: samples per prompt (the paper's recipe: 10; >= 2 to estimate a variance). seed: sampling and bootstrap seed
    (samples are seeded per (seed, prompt index, sample index)). max_new_tokens: the paper's recipe allows 512.
    batch_size: sequences per forward pass, for sampling and scoring (the same one is needed for bitwise-equal
    resumed scores). chat_template: wrap prompt and response in the tokenizer's chat template (the official code
    always does). temperature: 1 is the paper's plain sampling (top-k / top-p off). ties: ``"paper"`` or ``"half"``
    (:mod:`rmlab.measure.accuracy`). n_bootstrap: percentile-bootstrap resamples of the 95 % intervals.
    zero_std_atol: a prompt whose k rewards have std <= this counts as flat (TRL's 1e-8). device: ``"cpu"``,
    ``"cuda:0"``... or None (the policy's own device / the default). trust_remote_code: passed to transformers.

    Every field is checked on construction (:class:`rmlab.errors.UserError` naming the field):

    >>> ReportConfig(k=8).temperature
    1.0
    >>> ReportConfig(k=1)
    Traceback (most recent call last):
    rmlab.errors.UserError: k (samples per prompt) must be an integer >= 2 to estimate a variance, got 1
    """

    k: int
    seed: int = 0
    max_new_tokens: int = 64
    batch_size: int = 16
    chat_template: bool = False
    temperature: float = 1.0
    ties: str = "paper"
    n_bootstrap: int = DEFAULT_RESAMPLES
    zero_std_atol: float = ZERO_STD_ATOL
    device: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self):
        k = self.k
        if isinstance(k, bool) or not isinstance(k, (int, float)) or int(k) != k or k < 2:
            raise UserError(f"k (samples per prompt) must be an integer >= 2 to estimate a variance, got {k}")
        object.__setattr__(self, "k", int(k))
        check_positive_finite(self.temperature, "temperature")
        check_int_range(self.max_new_tokens, "max_new_tokens", minimum=1)
        check_int_range(self.batch_size, "batch_size", minimum=1)
        check_int_range(self.n_bootstrap, "n_bootstrap", minimum=1)
        check_int_range(self.seed, "seed", minimum=0)
        if self.ties not in TIE_RULES:
            raise UserError(f"ties must be one of {TIE_RULES}, got {self.ties!r}")
        check_device(self.device, "device")

    @classmethod
    def from_settings(cls, config: "ReportConfig | None", settings: dict) -> "ReportConfig":
        """``config`` with ``settings`` (field=value) replaced, or a new config from ``settings`` alone."""
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown report setting(s) {unknown}; the settings are the fields of ReportConfig")
        if config is None:
            if "k" not in settings:
                raise UserError("k (samples per prompt) is required: pass k=... or config=ReportConfig(k=...)")
            return cls(**settings)
        return dataclasses.replace(config, **settings)


def default(name: str):
    """The default of the :class:`ReportConfig` field ``name``.

    >>> default("max_new_tokens")
    64
    """
    return next(f.default for f in dataclasses.fields(ReportConfig) if f.name == name)

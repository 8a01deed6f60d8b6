"""The embedded toy world: a synthetic language with an exact gold reward, and tiny GPT-NeoX models trained on it.

>>> from rmlab.world import build_world, quick_config
>>> world = build_world(quick_config())                      # doctest: +SKIP
>>> world.models["sft_full"], world.gold(["copy : dog cat >"], ["dog cat"])   # doctest: +SKIP

See :mod:`rmlab.world.language` for the language and its four families, :mod:`rmlab.world.gold` for the reward,
:mod:`rmlab.world.build` for the cache and what a built world holds.
"""

from rmlab.world.build import World, build_world, default_cache_dir
from rmlab.world.config import PolicySpec, RewardModelSpec, WorldConfig, quick_config
from rmlab.world.gold import GoldReward
from rmlab.world.language import is_refusal, prompt_kind, template_gold_pairs, to_language_b, with_synonyms
from rmlab.world.tokenizer import build_tokenizer

__all__ = ["World", "build_world", "default_cache_dir", "WorldConfig", "PolicySpec", "RewardModelSpec",
           "quick_config", "GoldReward", "is_refusal", "prompt_kind", "template_gold_pairs", "to_language_b",
           "with_synonyms", "build_tokenizer"]

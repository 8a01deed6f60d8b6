"""Layer 4 of rmlab: training (theory <- measure <- lm <- train <- world).

- :mod:`rmlab.train.losses`: loss and advantage functions (SFT, Bradley-Terry, DPO/IPO, DPO+SFT, RLOO/GRPO, KL,
  the exact expected policy gradient).
- :mod:`rmlab.train.loop`: the one optimisation loop (optimiser, schedule, clipping, seeded batches, callback hook).
- :mod:`rmlab.train.sft`, :mod:`rmlab.train.pg`, :mod:`rmlab.train.dpo`, :mod:`rmlab.train.reward_model`: trainers.
- :mod:`rmlab.train.controlled` and :mod:`rmlab.train.rft_vs_sft`: the experiments of arXiv 2310.20703 (vanishing
  gradients in RFT): the controlled ``load_digits`` experiment, and per-prompt reward statistics with the RFT / SFT /
  SFT->RFT / partial-SFT runners for language models.
"""

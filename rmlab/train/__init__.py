"""Layer 4 of rmlab: training (theory <- measure <- lm <- train <- world).

- :mod:`rmlab.train.losses`: loss and advantage functions (SFT, Bradley-Terry, DPO/IPO, DPO+SFT, RLOO/GRPO, KL).
- :mod:`rmlab.train.loop`: the one optimisation loop (optimiser, schedule, clipping, seeded batches, callback hook).
"""

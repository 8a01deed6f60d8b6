"""Layer 4 of rmlab: training (theory <- measure <- lm <- train <- world). Pure loss and advantage functions
(:mod:`rmlab.train.losses`); the optimisation loop, reward-model, DPO/IPO and RLOO/GRPO trainers build on them."""

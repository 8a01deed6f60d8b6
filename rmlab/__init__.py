"""rmlab: the reward-model results of Razin et al., runnable, checkable and teachable."""

__version__ = "0.1.0"

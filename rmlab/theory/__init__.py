"""Layer 1, theory: exact math of the papers on tabular and autoregressive toy policies (numpy/torch, no sampling).

Modules: :mod:`~rmlab.theory.tabular` (softmax policies, variance, Lemma 7 gradient), :mod:`~rmlab.theory.accuracy`
(pairwise accuracy, Def. 1), :mod:`~rmlab.theory.flow` (exact gradient flow and the time ``t_gamma``),
:mod:`~rmlab.theory.constructions` (the RMs and policies of Thm 2/3/5/6, Best-of-N, the bounds),
:mod:`~rmlab.theory.autoregressive` (exact autoregressive toy, Prop. 2 / Thm 4 bounds, logit-Jacobian norms),
:mod:`~rmlab.theory.landscape` (Fig. 1 two-parameter family, time vs variance sweeps) and
:mod:`~rmlab.theory.vanishing` (arXiv 2310.20703: gradient-bound instances, RFT vs SFT times),
:mod:`~rmlab.theory.token_cues` (arXiv 2507.07981 §4: implicit vs explicit RM learning dynamics, Thm 2) and
:mod:`~rmlab.theory.verify` (Thm 1: verifying without generating, closed form). Figure functions:
:mod:`~rmlab.theory.plots_teacher`, :mod:`~rmlab.theory.plots_gradients`, :mod:`~rmlab.theory.plots_token_cues`.
"""

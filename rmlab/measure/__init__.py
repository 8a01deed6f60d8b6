"""Layer 2: model-agnostic measurements -- reward statistics, accuracies, bootstrap CIs, CHES math."""

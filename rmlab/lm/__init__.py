"""Layer 3: Hugging Face adapters -- loading, sampling, scoring, preference data, CHES on real models."""

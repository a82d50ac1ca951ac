"""Language models in Flax NNX: architectures, weights, tokenizers and generation."""

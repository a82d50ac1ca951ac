"""Decoder-only language models (SmolLM2-135M-Instruct, a Llama) in Flax NNX: the network
(``llama``), its weights from GGUF or hub safetensors (``weights``), jitted generation and scoring
(``generate``), the judge that reads a text debate and scores its options (``judge``) and a
plain-numpy reference for the tests (``reference``)."""

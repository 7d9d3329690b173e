"""Tiny random transformers vision models of each family, saved with save_pretrained (nothing downloads).

Real geometry is not needed to exercise the code paths: 32-pixel inputs, 2-4 blocks, 16-32 channels.
`save_tiny(family, folder)` writes config, weights and the image processor (and a word-level tokenizer for
CLIP) so `hf:<folder>` loads them exactly as a downloaded model.
"""

from __future__ import annotations

from pathlib import Path

import torch

LABELS = {0: "tabby cat", 1: "golden retriever", 2: "red fox"}
COLOURS = ("red", "green", "blue", "yellow")


def _classifier_kwargs() -> dict:
    return {"id2label": dict(LABELS), "label2id": {v: k for k, v in LABELS.items()}}


def _save(model: torch.nn.Module, processor: object, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def save_tiny(family: str, folder: Path, seed: int = 0) -> Path:
    """A random tiny model of `family` in `folder` (deterministic per seed; the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _save_tiny(family, folder, seed)


def _save_tiny(family: str, folder: Path, seed: int) -> Path:
    import transformers as T

    if family == "vit":
        cfg = T.ViTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            **_classifier_kwargs(),
        )
        proc = T.ViTImageProcessorPil(size={"height": 32, "width": 32})
        return _save(T.ViTForImageClassification(cfg), proc, folder)
    if family == "deit":
        cfg = T.DeiTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            **_classifier_kwargs(),
        )
        proc = T.DeiTImageProcessorPil(size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32})
        return _save(T.DeiTForImageClassification(cfg), proc, folder)
    if family == "dinov2":
        cfg = T.Dinov2Config(
            image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, mlp_ratio=2
        )
        proc = T.BitImageProcessorPil(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32})
        return _save(T.Dinov2Model(cfg), proc, folder)
    if family == "convnext":
        cfg = T.ConvNextConfig(
            num_channels=3, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 2, 1], image_size=32, **_classifier_kwargs()
        )
        proc = T.ConvNextImageProcessorPil(size={"shortest_edge": 32}, crop_pct=0.875)
        return _save(T.ConvNextForImageClassification(cfg), proc, folder)
    if family == "swin":
        cfg = T.SwinConfig(
            image_size=32,
            patch_size=4,
            embed_dim=16,
            depths=[1, 2, 1],
            num_heads=[1, 2, 2],
            window_size=2,
            **_classifier_kwargs(),
        )
        proc = T.ViTImageProcessorPil(
            size={"height": 32, "width": 32},
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
            resample=3,
        )
        return _save(T.SwinForImageClassification(cfg), proc, folder)
    if family == "resnet":
        cfg = T.ResNetConfig(
            embedding_size=8,
            hidden_sizes=[8, 16, 16, 32],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            **_classifier_kwargs(),
        )
        proc = T.ConvNextImageProcessorPil(size={"shortest_edge": 32}, crop_pct=0.875)
        return _save(T.ResNetForImageClassification(cfg), proc, folder)
    if family == "convnextv2":
        cfg = T.ConvNextV2Config(num_channels=3, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], image_size=32)
        return _save(T.ConvNextV2Model(cfg), T.ConvNextImageProcessorPil(size={"shortest_edge": 32}), folder)
    if family == "mobilevit":  # its processor flips RGB to BGR and does not normalise
        cfg = T.MobileViTConfig(
            image_size=32, patch_size=2, hidden_sizes=[16, 16, 24], neck_hidden_sizes=[8, 8, 16, 16, 16, 24, 32],
            num_attention_heads=2, mlp_ratio=2.0, **_classifier_kwargs(),
        )  # fmt: skip
        proc = T.MobileViTImageProcessorPil(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32})
        return _save(T.MobileViTForImageClassification(cfg), proc, folder)
    if family == "beit":  # both kinds of relative position bias, randomised (BEiT initialises them to zero)
        cfg = T.BeitConfig(
            image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, use_relative_position_bias=True, use_shared_relative_position_bias=True,
            use_mean_pooling=True, **_classifier_kwargs(),
        )  # fmt: skip
        model = T.BeitForImageClassification(cfg)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("relative_position_bias_table"):
                    param.normal_(0.0, 1.0)
        proc = T.BeitImageProcessorPil(size={"height": 32, "width": 32}, resample=3)
        return _save(model, proc, folder)
    if family == "efficientnet":  # its processor also subtracts 1 after rescaling and divides by the std twice
        cfg = T.EfficientNetConfig(
            image_size=32, width_coefficient=0.1, depth_coefficient=1.0, hidden_dim=128,  # 1280 x 0.1
            kernel_sizes=[3, 3, 5], in_channels=[32, 16, 24], out_channels=[16, 24, 40], strides=[1, 2, 2],
            expand_ratios=[1, 6, 6], num_block_repeats=[1, 2, 1], depthwise_padding=[], **_classifier_kwargs(),
        )  # fmt: skip
        proc = T.EfficientNetImageProcessorPil(
            size={"height": 36, "width": 36}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
            rescale_offset=True, include_top=True,
        )  # fmt: skip
        return _save(_lively(T.EfficientNetForImageClassification(cfg)), proc, folder)
    if family == "clip":
        return _save_tiny_clip(folder)
    if family == "siglip":
        words = (*COLOURS, "a", "photo", "picture", "image", "of", "an", ".")
        cfg = T.SiglipConfig(
            text_config={"vocab_size": len(words) + 3, "hidden_size": 32, "intermediate_size": 64,
                         "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 16},
            vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
                           "num_hidden_layers": 2, "num_attention_heads": 2},
        )  # fmt: skip
        _save(T.SiglipModel(cfg), T.SiglipImageProcessorPil(size={"height": 32, "width": 32}), folder)
        tiny_tokenizer(words).save_pretrained(folder)  # type: ignore[attr-defined]
        return folder
    raise ValueError(family)


def _lively(model: torch.nn.Module) -> torch.nn.Module:
    """Convolutions at He scale and batch norms with random statistics: at its own tiny initialisation an
    EfficientNet's activations vanish (all-zero features would make every parity check pass trivially)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)  # type: ignore[operator]
                module.running_var.uniform_(0.5, 1.5)  # type: ignore[operator]
    return model


def tiny_tokenizer(words: tuple[str, ...]) -> object:
    """A word-level fast tokenizer: [PAD]=0, [UNK]=1, the words, then [EOS] (the highest id, as CLIP's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    vocab["[EOS]"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A [EOS]", special_tokens=[("[EOS]", vocab["[EOS]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny random CLIP (vision 32 px, text over a colour vocabulary) with its tokenizer and processor."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _save_tiny_clip(folder)


def _save_tiny_clip(folder: Path) -> Path:
    import transformers as T

    words = (*COLOURS, "a", "photo", "picture", "image", "of", "an", ".")
    tokenizer = tiny_tokenizer(words)
    eos = len(words) + 2
    cfg = T.CLIPConfig(
        text_config={
            "vocab_size": eos + 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "eos_token_id": eos,
            "pad_token_id": 0,
            "bos_token_id": 1,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    model = T.CLIPModel(cfg)
    proc = T.CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    _save(model, proc, folder)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder

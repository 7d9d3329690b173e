"""Where an `hf:` backbone comes from (a local folder or a hub id), what it reads, and the offline rule.

A hub id is read from the local Hugging Face cache only (`local_files_only`): nothing is downloaded unless
`HEADSTART_ALLOW_DOWNLOAD=1`, so an offline machine gets a clear error at once instead of a hang; with downloads
allowed, one probe without retries (`probe_hub`) finds an unreachable hub within seconds. The kind of
model (`text`, `image`, or `image-text` for dual encoders such as CLIP) comes from its `config.json`, read
without importing torch or transformers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from headstart.errors import BackboneError

ALLOW_DOWNLOAD = "HEADSTART_ALLOW_DOWNLOAD"  # =1: hub ids may be downloaded (the same switch as bundle loading)
PROBE_SECONDS = 5.0  # the most an allowed download waits for the hub to answer before the clear error


class HfKind(StrEnum):
    """What an `hf:` checkpoint holds (a kind of checkpoint, not a modality: a dual encoder reads both)."""

    TEXT = "text"
    IMAGE = "image"
    IMAGE_TEXT = "image-text"


# Vision model types whose towers `backbones.hf_image_stages` knows how to split into stages.
VISION_TYPES = frozenset(
    {
        "vit",
        "deit",
        "beit",
        "efficientnet",
        "dinov2",
        "dinov2_with_registers",
        "convnext",
        "convnextv2",
        "swin",
        "resnet",
        "mobilevit",
        "clip_vision_model",
        "siglip_vision_model",
    }
)
DUAL_TYPES = frozenset({"clip", "siglip"})  # image-text dual encoders with an image and a text tower


def downloads_allowed() -> bool:
    """Whether hub ids may be fetched from the network (`HEADSTART_ALLOW_DOWNLOAD=1`)."""
    return os.environ.get(ALLOW_DOWNLOAD) == "1"


@dataclass(frozen=True)
class HfSource:
    """A resolved `hf:` source: what to pass to `from_pretrained`, whether it is a folder, and its config."""

    source: str  # an absolute folder path, or the hub id
    local: bool
    config: dict[str, Any]

    @property
    def kind(self) -> HfKind:
        return hf_kind(self.config)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `from_pretrained`: cache only, unless downloads are allowed."""
        return {"local_files_only": self.local or not downloads_allowed()}


def looks_like_path(source: str) -> bool:
    """Plainly a path (not a hub id), so a missing folder is reported as such."""
    return source.startswith(("/", ".", "~")) or "\\" in source or Path(source).expanduser().exists()


def resolve(source: str) -> HfSource:
    """The folder or cached hub id `source`, with its config; BackboneError (exit 4) when it cannot be read."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return HfSource(str(folder.resolve()), True, _read_json(folder / "config.json", source))
    if looks_like_path(source):
        raise BackboneError(
            f"hf:{source}: {'no folder at' if not folder.exists() else 'not a folder:'} {str(folder)!r}",
            expected="hf:<folder with config.json and weights> or hf:<hub id, e.g. org/model>",
            fix="check the path (a model saved with save_pretrained), or pass a hub id",
        )
    return HfSource(source, False, _read_json(_hub_config(source), source))


def _read_json(path: Path, source: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackboneError(
            f"hf:{source} has no config.json",
            expected="a folder written by save_pretrained (config.json, weights, processor or tokenizer files)",
            fix="save the model with model.save_pretrained(folder) and its processor beside it",
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BackboneError(f"hf:{source}: cannot read {path} ({exc})", expected="a valid config.json") from None
    if not isinstance(data, dict):
        raise BackboneError(f"hf:{source}: {path} is not a JSON object", expected="a transformers config.json")
    return data


def _hub_config(repo_id: str) -> Path:
    """config.json of a hub model: from the local cache, or downloaded when allowed."""
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:
        raise BackboneError(
            f"hf:{repo_id} is a hub id, but huggingface_hub is not installed", fix="pip install huggingface_hub"
        ) from None
    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except ValueError as exc:  # not a valid repo id
        raise BackboneError(
            f"hf:{repo_id} is neither a folder nor a valid hub id ({exc})",
            expected="hf:<folder> or hf:<org/model>",
        ) from None
    if isinstance(cached, str):
        return Path(cached)
    if not downloads_allowed():
        raise BackboneError(
            f"hf:{repo_id} is a Hugging Face hub id that is not in the local cache, and downloads are off",
            expected="a local folder saved with save_pretrained, or a hub id already downloaded",
            fix=f"download it on purpose: set {ALLOW_DOWNLOAD}=1 (needs network), or pass hf:<local folder>",
        )
    try:
        probe_hub(repo_id)
        return Path(hf_hub_download(repo_id, "config.json"))
    except Exception as exc:  # network, auth or missing repo: the hub client raises many types
        raise BackboneError(
            f"cannot download hf:{repo_id} from the Hugging Face hub ({type(exc).__name__}: {exc})",
            expected="a reachable hub id (network, spelling, access rights)",
            fix="check the id and the network, or pass hf:<local folder>",
        ) from None


def probe_hub(repo_id: str) -> None:
    """One HEAD request for the model's config.json, without retries and within `probe_seconds()`.

    `hf_hub_download` retries a failed connection with backoff (5 times, about 25 s) before giving up; this
    probe makes an unreachable hub (no network, a firewall, a wrong HF_ENDPOINT) or a missing repo fail at once.
    Raises what the hub client raises (a network error, RepositoryNotFoundError...)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=probe_seconds(), retry_on_errors=False)


def probe_seconds() -> float:
    """How long the probe waits for the hub: $HF_HUB_ETAG_TIMEOUT when set (the hub client's own setting for
    metadata requests), else `PROBE_SECONDS`."""
    try:
        return float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or PROBE_SECONDS)
    except ValueError:
        return PROBE_SECONDS


def hf_kind(config: dict[str, Any]) -> HfKind:
    """`image-text` for dual encoders, `image` for vision models, else `text` (the original hf: form)."""
    model_type = str(config.get("model_type", ""))
    if model_type in DUAL_TYPES or ("vision_config" in config and "text_config" in config):
        return HfKind.IMAGE_TEXT
    archs = [str(a) for a in config.get("architectures") or []]
    if (
        model_type in VISION_TYPES
        or model_type.endswith("_vision_model")
        or any("ImageClassification" in a for a in archs)
        or ("num_channels" in config and "image_size" in config)
    ):
        return HfKind.IMAGE
    return HfKind.TEXT


def split_options(source: str) -> tuple[str, dict[str, str]]:
    """`PATH#pool=mean` → (`PATH`, {"pool": "mean"}): options that change the features live in the name."""
    base, sep, rest = source.partition("#")
    if not sep:
        return source, {}
    options: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise BackboneError(
                f"bad option {part!r} in hf:{source}", expected="hf:<source>#key=value, e.g. hf:./dinov2#pool=mean"
            )
        options[key.strip()] = value.strip()
    unknown = sorted(set(options) - {"pool"})
    if unknown:
        raise BackboneError(f"unknown option(s) {', '.join(unknown)} in hf:{source}", expected="pool=cls|mean|cls+mean")
    return base, options


@dataclass(frozen=True)
class HfForm:
    """One kind of model `hf:` reads (what `headstart models --all` lists)."""

    kind: HfKind
    modality: str
    families: str
    pooling: str
    extra: str


SUPPORTED_FORMS = (
    HfForm(HfKind.TEXT, "text", "BERT-family encoders (.embeddings + .encoder.layer), sentence-transformers folders",
           "the folder's pooling (mean or CLS), else mean", "tokenizer from the folder"),
    HfForm(HfKind.IMAGE, "image", "ViT, DeiT, BEiT, DINOv2, ConvNeXt/V2, Swin, ResNet, EfficientNet, MobileViT "
           "(AutoModel or AutoModelForImageClassification)",
           "CLS (ViT/DeiT/DINOv2), mean (BEiT/ConvNeXt/Swin/ResNet/EfficientNet); #pool=",
           "image processor replayed in PIL/numpy; a classifier's head kept as source head (id2label)"),
    HfForm(HfKind.IMAGE_TEXT, "image", "CLIP, SigLIP (the image tower, projected into the joint space)",
           "the model's own (projected CLS, attention pool)", "text tower used by zero-shot for label prompts"),
)  # fmt: skip


def cached_hub_models() -> list[tuple[str, HfKind]]:
    """Hub models in the local Hugging Face cache that `hf:` can read offline: (repo id, kind)."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return []
    try:
        cache = scan_cache_dir()
    except (CacheNotFound, OSError):
        return []
    found: list[tuple[str, HfKind]] = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            config = revision.snapshot_path / "config.json"
            if config.is_file():
                try:
                    found.append((repo.repo_id, hf_kind(json.loads(config.read_text()))))
                except (OSError, json.JSONDecodeError):
                    continue
                break
    return found

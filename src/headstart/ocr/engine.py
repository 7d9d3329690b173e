"""RapidOCR's PP-OCRv4 ONNX models run on one page: detection, page orientation, recognition with spaces restored.

The models ship in the `rapidocr-onnxruntime` wheel; this module drives its detector, angle classifier and
recogniser itself (rather than `RapidOCR.__call__`) so that it can turn a page lying on its side or upside down
before reading it, and it rebuilds their ONNX Runtime sessions with options measured faster here
(`bench/ocr.py`): the memory arena on and no spin-waiting threads, which on a shared 2-core machine halved the time.

Its recogniser (a Chinese/English model) often drops the spaces between English words ("NO290,JALANAIRPANAS"):
`SpacedDecoder` replaces its greedy CTC decoding and puts a space wherever the space symbol's probability
between two characters reaches `space_threshold`, although another symbol (usually the blank) won the step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.data.documents import OcrLine
from headstart.errors import BackboneError

if TYPE_CHECKING:
    from headstart.ocr import OcrSettings

OCR_PACKAGE = "rapidocr-onnxruntime"
ORIENTATION_LINES = 12  # the longest lines whose angle decides a page's orientation
TALL = 1.5  # a box this much taller than wide is a line standing on its side
Prepared = tuple[np.ndarray, dict[str, Any], int, int]  # the shrunk page, RapidOCR's record of it, the raw size


class SpacedDecoder:
    """Greedy CTC decoding of the recogniser's outputs that also emits the spaces it scored but did not pick.

    Between two emitted characters, the steps that were not characters (blanks, repeats) are looked at: when the
    space symbol's probability reaches `threshold` on any of them, a space goes between the two characters.
    """

    def __init__(self, characters: Sequence[str], threshold: float) -> None:
        self.characters = list(characters)  # index 0 is the CTC blank
        self.space = self.characters.index(" ") if " " in self.characters else -1
        self.threshold = threshold

    def __call__(self, preds: np.ndarray, return_word_box: bool = False, **_: Any) -> list[tuple[str, float]]:
        return [self.decode_line(p) for p in preds]

    def decode_line(self, probs: np.ndarray) -> tuple[str, float]:
        best = probs.argmax(axis=1)
        chars: list[str] = []
        confidences: list[float] = []
        previous = 0
        space_seen = 0.0
        for step, index in enumerate(best):
            index = int(index)
            if index == previous and index != 0:
                continue  # a repeat of the character just emitted
            previous = index
            if index == self.space:
                space_seen = 1.0  # a space the recogniser picked is always kept
                continue
            if index == 0:
                if self.space >= 0 and chars:
                    space_seen = max(space_seen, float(probs[step, self.space]))
                continue
            if chars and space_seen >= min(self.threshold, 1.0):
                chars.append(" ")
            space_seen = 0.0
            chars.append(self.characters[index])
            confidences.append(float(probs[step, index]))
        return "".join(chars).strip(), float(np.mean(confidences)) if confidences else 0.0


@dataclass
class PageRead:
    """The lines read on one page, the turn (degrees clockwise) that made the page upright, and seconds per stage."""

    lines: list[OcrLine]
    rotation: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def session_options(threads: int, *, arena: bool = True, spinning: bool = False) -> Any:
    """ONNX Runtime options for the three models; the defaults are the fastest measured (`bench/ocr.py`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = arena  # variable-size line batches reuse the arena's blocks
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def tune_session(holder: Any, options: Any) -> None:
    """Replace a RapidOCR session holder's ONNX Runtime session by one of the same model with these options."""
    import onnxruntime as ort

    path = holder.session._model_path
    holder.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OcrEngine:
    """RapidOCR's three models with these settings, ready to read pages (build once per process: `ocr_engine`)."""

    def __init__(self, settings: OcrSettings, threads: int = 2) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise BackboneError(
                "OCR is not available: the rapidocr-onnxruntime package is not installed",
                expected="its wheel, which ships the PP-OCRv4 detection and recognition models",
                fix="pip install 'headstart[documents]', or give OCR lines with the documents (box/<stem>.csv)",
            ) from None
        self.settings = settings
        self._lock = threading.Lock()
        self.rapid = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            max_side_len=settings.max_side,
            det_limit_side_len=settings.det_side,
            det_limit_type=settings.det_limit,
            det_box_thresh=settings.box_thresh,
            det_unclip_ratio=settings.unclip_ratio,
            rec_batch_num=settings.rec_batch,
            text_score=settings.text_score,
            print_verbose=False,
        )
        for holder in self.sessions():
            tune_session(holder, session_options(threads))
        recogniser = self.rapid.text_rec
        recogniser.postprocess_op = SpacedDecoder(recogniser.postprocess_op.character, settings.space_threshold)

    def sessions(self) -> tuple[Any, Any, Any]:
        """RapidOCR's holders of the detector's, angle classifier's and recogniser's ONNX Runtime sessions."""
        return self.rapid.text_det.infer, self.rapid.text_cls.infer, self.rapid.text_rec.session

    def read(self, image: Any, page: int = 0) -> PageRead:
        """The lines on one page image (PIL or an RGB array), top to bottom, in the upright page's coordinates."""
        rgb = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        seconds: dict[str, float] = {}
        rotation = 0
        boxes, prepared = self._detect(rgb, seconds)
        if self.settings.orientation and boxes is not None:
            started = time.perf_counter()
            rotation = self._orientation(prepared[0], boxes)
            seconds["orientation"] = time.perf_counter() - started
            if rotation:
                rgb = np.rot90(rgb, k=-rotation // 90)  # k < 0: clockwise
                boxes, prepared = self._detect(rgb, seconds)
        if boxes is None:
            return PageRead([], rotation, seconds)
        return PageRead(self._recognise(boxes, prepared, page, seconds), rotation, seconds)

    def _detect(self, rgb: np.ndarray, seconds: dict[str, float]) -> tuple[Any, Prepared]:
        """Text boxes on the page (None when there is no text), and the shrunk page they were found on."""
        started = time.perf_counter()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        raw_h, raw_w = bgr.shape[:2]
        img, ratio_h, ratio_w = self.rapid.preprocess(bgr)
        img, record = self.rapid.maybe_add_letterbox(img, {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}})
        with self._lock:  # the detector's input size is set per page
            self.rapid.text_det.limit_side_len = self._detector_side(img.shape[0], img.shape[1])
            boxes, _ = self.rapid.auto_text_det(img)
        seconds["detection"] = seconds.get("detection", 0.0) + time.perf_counter() - started
        return boxes, (img, record, raw_h, raw_w)

    def _detector_side(self, height: int, width: int) -> int:
        """The detector's limit for this page: `det_side`, lowered under "min" so that raising the shortest side
        never takes the longest past `det_max` (a wide one-line image is not blown up to 12,000 px; no
        SROIE receipt reaches it)."""
        side = self.settings.det_side
        if self.settings.det_limit != "min" or min(height, width) >= side:
            return side
        ratio = min(side / min(height, width), max(1.0, self.settings.det_max / max(height, width)))
        return max(32, round(min(height, width) * ratio))

    def _orientation(self, img: np.ndarray, boxes: Sequence[np.ndarray]) -> int:
        """How far (degrees clockwise) the page must turn to stand upright: 0, 90, 180 or 270.

        Lines standing on their side (most long boxes taller than wide) mean a quarter turn; which way, and whether
        an upright-looking page is upside down, the angle classifier says by a vote over the longest lines.
        """
        sizes = [(float(np.linalg.norm(b[0] - b[1])), float(np.linalg.norm(b[0] - b[3]))) for b in boxes]
        order = sorted(range(len(boxes)), key=lambda i: -max(sizes[i]))[:ORIENTATION_LINES]
        longest = [i for i in order if max(sizes[i]) >= 2 * min(sizes[i])]
        if not longest:
            return 0
        standing = sum(sizes[i][1] > TALL * sizes[i][0] for i in longest) > len(longest) / 2
        crops = self.rapid.get_crop_img_list(img, [boxes[i] for i in longest])  # tall crops: turned a quarter left
        _, votes, _ = self.rapid.text_cls(crops)
        flipped = sum(score for label, score in votes if "180" in label)
        upright = sum(score for label, score in votes if "180" not in label)
        if standing:
            return 90 if flipped > upright else 270
        return 180 if flipped > upright else 0

    def _recognise(
        self, boxes: Any, prepared: Prepared, page: int, seconds: dict[str, float]
    ) -> list[OcrLine]:
        img, record, raw_h, raw_w = prepared
        started = time.perf_counter()
        crops = self.rapid.get_crop_img_list(img, boxes)
        if self.settings.line_angle:
            crops, _, _ = self.rapid.text_cls(crops)
            seconds["angle"] = time.perf_counter() - started
            started = time.perf_counter()
        texts, _ = self.rapid.text_rec(crops)
        seconds["recognition"] = time.perf_counter() - started
        corners = self.rapid._get_origin_points(boxes, record, raw_h, raw_w)
        lines = []
        for box, (text, confidence) in zip(corners, texts, strict=True):
            if float(confidence) >= self.settings.text_score and str(text).strip():
                flat = tuple(float(v) for point in box for v in point)
                lines.append(OcrLine(str(text), flat, round(float(confidence), 4), page))  # type: ignore[arg-type]
        return lines


_ENGINES: dict[tuple[Any, ...], OcrEngine] = {}
_ENGINE_LOCK = threading.Lock()


def ocr_engine(settings: OcrSettings, threads: int = 2) -> OcrEngine:
    """The engine for these settings and threads, built once per process; BackboneError when not installed."""
    key = (settings, threads)
    with _ENGINE_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = OcrEngine(settings, threads)
        return _ENGINES[key]

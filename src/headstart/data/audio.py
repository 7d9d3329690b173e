"""Reading audio files safely, and the numpy audio front-ends (mel windows, MFCC statistics).

`read_audio(path)` gives one 16 kHz mono float32 waveform per file, or a `BadItemError` that says why not:
the header is checked before any sample is decoded (0-byte, truncated, non-audio, too many channels, longer
than `max_seconds()`), then the samples (NaN or infinite values, silence, too short). Any sample rate is
resampled with soxr (a real band-limited resampler), any channel count up to `MAX_CHANNELS` is averaged to mono.

The mel front-end reproduces resemblyzer's `wav_to_mel_spectrogram` (librosa's power mel spectrogram: 25 ms
Hann windows, 10 ms hop, 40 Slaney mel bands, centred with zero padding) in vectorised numpy, and cuts it into
partial windows of 160 frames the way resemblyzer's `embed_utterance` does. It lives here, below the backbones,
so fit, predict, serve and export all call the same function.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.folders import FileKind
from headstart.errors import BadItemError, UsageError

AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})
SAMPLE_RATE = 16_000
MAX_SECONDS = 120.0
MAX_SECONDS_ENV = "HEADSTART_MAX_AUDIO_SECONDS"
MIN_SECONDS = 0.1  # shorter than this holds no word (and no 25 ms frame worth a voice)
MAX_CHANNELS = 8  # averaged to mono; more is a surround or array format, not a recording of a voice
SILENCE_PEAK = 10 ** (-60 / 20)  # a peak below -60 dBFS is silence (or a file of zeros)
CLIP_LEVEL = 0.999
CLIPPED_SHARE = 0.01  # inspect: a file with >= 1 % of its samples at full scale is clipped

# mel front-end (resemblyzer/hparams.py)
N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s windows
PARTIAL_RATE = 1.3  # windows per second: a hop of round(16000 / 1.3 / 160) = 77 frames
MIN_COVERAGE = 0.75  # the last window is kept when at least 75 % of it is real audio
NORM_DBFS = -30.0  # quiet recordings are raised to -30 dBFS (never lowered), as resemblyzer does
INT16_MAX = 2**15 - 1
MEL_BLOCK_FRAMES = 1024  # frames per FFT block (10 s): the spectrum of a long recording is never held whole

# MFCC statistics (the no-transfer baseline)
N_MFCC = 20


def is_audio_file(path: str | Path) -> bool:
    """True when the file name ends in one of `AUDIO_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def max_seconds() -> float:
    """The longest recording read: `HEADSTART_MAX_AUDIO_SECONDS` when set, else 120 s."""
    raw = os.environ.get(MAX_SECONDS_ENV)
    if raw is None or not raw.strip():
        return MAX_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(
            f"{MAX_SECONDS_ENV}={raw!r} is not a positive number of seconds",
            expected="seconds, e.g. 120",
            fix=f"set {MAX_SECONDS_ENV} to a positive number, or unset it for the default ({MAX_SECONDS:g} s)",
        )
    return value


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def read_header(path: str | Path, limit: float | None = None) -> AudioHeader:
    """The header of an audio file, checked against the guards; BadItemError (with the reason) when unusable.

    `limit` replaces `max_seconds()` as the longest recording (the service checks its own, then the decoder's)."""
    import soundfile as sf

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        raise BadItemError(str(path), "file not found") from None
    if size == 0:
        raise BadItemError(str(path), "empty file (0 bytes)")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise BadItemError(str(path), f"not a readable audio file ({_short(err)})") from None
    missing = _wav_shortfall(p, size)
    if missing:
        raise BadItemError(str(path), f"truncated: the WAV header promises {missing} more bytes than the file holds")
    header = AudioHeader(int(info.samplerate), int(info.channels), int(info.frames), str(info.format))
    if header.sample_rate <= 0 or header.channels <= 0:
        raise BadItemError(str(path), "not a readable audio file (no sample rate or channels in its header)")
    if header.channels > MAX_CHANNELS:
        raise BadItemError(
            str(path), f"{header.channels} channels: at most {MAX_CHANNELS} are read (mixed down to mono)"
        )
    limit = max_seconds() if limit is None else limit
    if header.seconds > limit:
        raise BadItemError(
            str(path),
            f"too long: {header.seconds:.1f} s, more than the {limit:g} s limit (cut it into shorter recordings, "
            f"or raise {MAX_SECONDS_ENV})",
        )
    return header


def _wav_shortfall(path: Path, size: int) -> int:
    """Bytes a RIFF/WAVE header promises beyond the end of the file (0 when complete, or not a sized WAV).

    libsndfile silently reads what is there, so a cut download would otherwise pass as a shorter recording.
    """
    with path.open("rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    declared = int.from_bytes(head[4:8], "little")
    if declared in (0, 0xFFFFFFFF):  # written by a stream that could not seek back: no size to trust
        return 0
    return max(0, declared + 8 - size)


def read_audio(path: str | Path) -> np.ndarray:
    """The recording at `path` as 16 kHz mono float32 in [-1, 1]; BadItemError when it cannot be used."""
    return checked_waveform(str(path), *read_samples(path))


def read_samples(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples as float32 frames x channels, sample rate) after the header guards, before any other check."""
    import soundfile as sf

    header = read_header(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise BadItemError(str(path), f"cannot decode the audio ({_short(err)})") from None
    if header.frames > 0 and len(data) < 0.9 * header.frames:
        raise BadItemError(
            str(path), f"truncated: the header promises {header.frames} samples, the file holds {len(data)}"
        )
    return data, int(rate)


def checked_waveform(item: str, data: np.ndarray, rate: int) -> np.ndarray:
    """Mono 16 kHz float32 from (frames x channels) samples, refusing NaN, silence and too-short recordings."""
    if not np.isfinite(data).all():
        raise BadItemError(item, "the samples hold NaN or infinite values (a broken float recording)")
    if len(data) / rate < MIN_SECONDS:
        raise BadItemError(item, f"too short: {len(data) / rate:.3f} s, less than {MIN_SECONDS:g} s")
    mono = data.mean(axis=1) if data.ndim == 2 else data
    wav = resample(np.asarray(mono, dtype=np.float32), rate)
    if not len(wav) or float(np.max(np.abs(wav))) < SILENCE_PEAK:
        raise BadItemError(item, "silent: no sample above -60 dBFS")
    return np.clip(wav, -1.0, 1.0)


def resample(wav: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """`wav` at `target` Hz (soxr, high quality); unchanged when already there."""
    if rate == target:
        return np.ascontiguousarray(wav, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(wav, rate, target, quality="HQ"), dtype=np.float32)


def not_audio(path: Path) -> str:
    return (
        f"not an audio file ({path.suffix.lower() or 'no extension'}); accepted: {', '.join(sorted(AUDIO_EXTENSIONS))}"
    )


RECORDINGS = FileKind(
    modality="audio",
    noun="audio",
    plural="recordings",
    extensions=frozenset(AUDIO_EXTENSIONS),
    example="alice/1.wav",
    recognises=is_audio_file,
    check_header=read_header,
    not_accepted=not_audio,
)


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]


def decode_steps() -> list[str]:
    """What `read_audio` does, in order, for an export's card (to re-implement it outside headstart)."""
    return [
        "read the file with libsndfile (soundfile.read, float32, frames x channels)",
        f"refuse: 0 bytes, unreadable, a RIFF size beyond the file (truncated), more than {MAX_CHANNELS} channels, "
        f"longer than {MAX_SECONDS_ENV} (default {MAX_SECONDS:g} s), NaN or infinite samples, shorter than "
        f"{MIN_SECONDS:g} s",
        "average the channels to mono",
        f"resample to {SAMPLE_RATE} Hz with soxr (quality HQ)",
        "refuse silence: no sample above -60 dBFS; clip to [-1, 1]",
        f"raise to {NORM_DBFS:g} dBFS RMS when quieter: "
        "wav * 10 ** ((target - 20 * log10(rms(wav * 32767) / 32767)) / 20)",
        "pad with zeros to the end of the last window; power mel spectrogram (see spectrogram, mel)",
        "cut windows of window_frames frames every window_hop_frames frames (resemblyzer's compute_partial_slices "
        "with rate 1.3 and min_coverage 0.75: at least one window)",
        "batch: mel (N, W, 160, 40) zero-padded to the longest recording's W, attention_mask (N, W) int64 1 = real",
    ]


def write_check_recordings(directory: Path) -> tuple[str, ...]:
    """A few generated recordings (tones, a chirp, noise) of one to four windows, for export parity checks."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    for i, (rate, seconds) in enumerate([(8_000, 0.4), (16_000, 1.0), (44_100, 2.5), (16_000, 4.0)]):
        t = np.arange(int(rate * seconds)) / rate
        wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t * (1 + 0.2 * t)) + 0.05 * rng.standard_normal(len(t))
        path = directory / f"check-{i}.wav"
        sf.write(str(path), wave.astype(np.float32), rate, subtype="PCM_16")
        paths.append(str(path))
    return tuple(paths)


# ---------------------------------------------------------------- statistics for `inspect`


def audio_stats(data: np.ndarray, rate: int) -> dict[str, Any]:
    """Duration, sample rate, channels and quality flags of one recording's samples (frames x channels)."""
    finite = bool(np.isfinite(data).all())
    peak = float(np.max(np.abs(data))) if finite and data.size else 0.0
    clipped = finite and data.size > 0 and float(np.mean(np.abs(data) >= CLIP_LEVEL)) >= CLIPPED_SHARE
    return {
        "seconds": len(data) / rate,
        "sample_rate": rate,
        "channels": int(data.shape[1]),
        "silent": finite and peak < SILENCE_PEAK,
        "clipped": bool(clipped),
        "too_short": len(data) / rate < MIN_SECONDS,
        "finite": finite,
    }


# ---------------------------------------------------------------- mel front-end


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular Slaney-normalised filters, as librosa.filters.mel builds them."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    """The periodic Hann window (scipy.signal.get_window("hann", n), what librosa uses)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def mel_spectrogram(wav: np.ndarray, block: int = MEL_BLOCK_FRAMES) -> np.ndarray:
    """(frames, 40) power mel spectrogram of a 16 kHz waveform: 1 + len // 160 frames, centred, zero-padded.

    Frames are transformed `block` at a time (each frame's numbers are its own), so the complex spectrum of a
    long recording is never held whole: memory stays flat in the length.
    """
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window, filters = _hann(N_FFT).astype(np.float32), mel_filters().T
    out = np.empty((len(frames), N_MELS), dtype=np.float32)
    for start in range(0, len(frames), block):
        spectrum = np.fft.rfft(frames[start : start + block] * window, axis=1)
        out[start : start + block] = (spectrum.real**2 + spectrum.imag**2) @ filters
    return out


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_DBFS) -> np.ndarray:
    """Raise a quiet recording to `target_dbfs` RMS (never lower a loud one), as resemblyzer's preprocessing."""
    rms = float(np.sqrt(np.mean((wav.astype(np.float64) * INT16_MAX) ** 2)))
    if rms <= 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else (wav * (10 ** (change / 20))).astype(np.float32)


def partial_slices(n_samples: int) -> list[int]:
    """The first mel frame of each 160-frame window covering `n_samples` (resemblyzer's compute_partial_slices
    with rate 1.3 and min_coverage 0.75: at least one window; the last kept when 75 % of it is audio)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = window_hop()
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    return starts


def window_hop() -> int:
    """Frames between two partial windows (77 at 1.3 windows per second)."""
    return int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))


def mel_windows(wav: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """(windows, 160, 40) float32: the partial-utterance mel windows of one 16 kHz recording.

    The recording is padded with zeros to the end of its last window; its mel spectrogram is computed once and
    sliced (windows overlap by 83 frames), so the cost is linear in the length.
    """
    wav = normalize_volume(wav) if normalize else wav
    starts = partial_slices(len(wav))
    end = (starts[-1] + PARTIAL_FRAMES) * HOP
    if end >= len(wav):
        wav = np.pad(wav, (0, end - len(wav)))
    mel = mel_spectrogram(wav)
    view = np.lib.stride_tricks.sliding_window_view(mel, PARTIAL_FRAMES, axis=0)  # (frames - 159, 40, 160)
    return np.ascontiguousarray(view[starts].transpose(0, 2, 1))


def batch_windows(wavs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """`mel` (N, W, 160, 40) padded with zero windows and `attention_mask` (N, W) marking the real ones."""
    windows = [mel_windows(w) for w in wavs]
    longest = max((len(w) for w in windows), default=1)
    mel = np.zeros((len(windows), longest, PARTIAL_FRAMES, N_MELS), dtype=np.float32)
    mask = np.zeros((len(windows), longest), dtype=np.int64)
    for i, w in enumerate(windows):
        mel[i, : len(w)] = w
        mask[i, : len(w)] = 1
    return {"mel": mel, "attention_mask": mask}


def frontend_config() -> dict[str, Any]:
    """The exact front-end, for manifests, feature-cache keys and export cards."""
    return {
        "kind": "audio",
        "sample_rate": SAMPLE_RATE,
        "channels": "mono (mean of channels)",
        "resampler": "soxr HQ",
        "volume": f"raised to {NORM_DBFS:g} dBFS RMS when quieter (never lowered)",
        "voice_activity_trimming": False,
        "spectrogram": {
            "n_fft": N_FFT,
            "win_length": N_FFT,
            "hop_length": HOP,
            "window": "hann (periodic)",
            "center": True,
            "pad_mode": "constant (zeros)",
            "power": 2.0,
        },
        "mel": {"n_mels": N_MELS, "fmin": 0.0, "fmax": SAMPLE_RATE / 2, "scale": "slaney", "norm": "slaney"},
        "log": False,
        "window_frames": PARTIAL_FRAMES,
        "window_seconds": PARTIAL_FRAMES * HOP / SAMPLE_RATE,
        "window_hop_frames": window_hop(),
        "min_coverage": MIN_COVERAGE,
        "pooling": "mean of the L2-normalised window embeddings, L2-normalised",
        "layout": "mel (N, windows, 160, 40), attention_mask (N, windows)",
    }


# ---------------------------------------------------------------- MFCC statistics (baseline)


@functools.lru_cache(maxsize=2)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II (scipy.fft.dct(type=2, norm="ortho")) as a (n_out, n_in) matrix."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def mfcc(wav: np.ndarray) -> np.ndarray:
    """(frames, 20) MFCCs: log power mel (40 bands, 80 dB floor below the peak) -> orthonormal DCT-II."""
    mel = mel_spectrogram(wav).astype(np.float64)
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return np.asarray(db @ _dct_matrix(N_MELS, N_MFCC).T.astype(np.float64), dtype=np.float32)


def mfcc_stats(wav: np.ndarray) -> np.ndarray:
    """80 numbers per recording: mean and std over time of 20 MFCCs and of their deltas."""
    c = mfcc(wav)
    d = np.gradient(c, axis=0) if len(c) > 1 else np.zeros_like(c)
    return np.concatenate([c.mean(0), c.std(0), d.mean(0), d.std(0)]).astype(np.float32)


def mfcc_config() -> dict[str, Any]:
    return {
        "kind": "mfcc-stats",
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP,
        "n_mels": N_MELS,
        "n_mfcc": N_MFCC,
        "deltas": "np.gradient over frames",
        "stats": ["mean", "std"],
        "dim": 4 * N_MFCC,
    }

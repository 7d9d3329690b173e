"""Tiny generated recordings for tests: tones, sweeps, noise, silence and broken files (no ../shared needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 8_000


def tone(freq: float, seconds: float = 0.6, rate: int = RATE, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    """A sine at `freq` Hz with a little noise and a short fade, float32."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    wave = 0.4 * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))
    return (wave * np.minimum(1.0, np.minimum(t, t[::-1]) * 20)).astype(np.float32)


def sweep(f0: float, f1: float, seconds: float = 0.8, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A linear chirp from f0 to f1 Hz, float32."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(phase) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def write(path: Path, wave: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, rate, subtype=subtype)
    return path


def make_audio_folder(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    """`root/<class>/<n>.wav`: low hums (rising sweeps 150-300 Hz) against high whistles (1.5-2.5 kHz tones)."""
    rng = np.random.default_rng(seed)
    for n in range(per_class):
        write(root / "low" / f"{n:02d}.wav", sweep(150 + 10 * n, 300, seconds=0.5 + 0.1 * (n % 4), seed=n))
        freq = float(rng.uniform(1500, 2500))
        write(root / "high" / f"{n:02d}.flac", tone(freq, seconds=0.4 + 0.15 * (n % 3), seed=100 + n))
    return root


def make_audio_csv(path: Path, folder: Path) -> Path:
    """A `path,label` table naming the recordings of `make_audio_folder`, relative to the table."""
    rows = sorted(p.relative_to(path.parent).as_posix() for p in folder.rglob("*") if p.is_file())
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for r in rows:
            writer.writerow([r, Path(r).parent.name])
    return path


def write_bad_files(folder: Path) -> dict[str, str]:
    """The issue's bad inputs, written into `folder`; name -> a fragment of the expected reason."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    good = write(folder / "whole.wav", tone(440, 1.0))
    (folder / "truncated.wav").write_bytes(good.read_bytes()[: 44 + 2000])
    (folder / "notaudio.wav").write_bytes(b"this is a text file, not a recording\n" * 20)
    write(folder / "hour.wav", np.zeros(3600 * 1000, np.float32) + 0.1, rate=1000, subtype="PCM_U8")
    write(folder / "channels9.wav", np.tile(tone(300, 0.5)[:, None], (1, 9)))
    write(folder / "silent.wav", np.zeros(RATE, np.float32))
    nan = tone(300, 0.5)
    nan[100:200] = np.nan
    write(folder / "nan.wav", nan, subtype="FLOAT")
    write(folder / "tiny.wav", tone(300, 0.02))
    (good).unlink()
    return {
        "empty.wav": "empty file",
        "truncated.wav": "truncated",
        "notaudio.wav": "not a readable audio file",
        "hour.wav": "too long",
        "channels9.wav": "9 channels",
        "silent.wav": "silent",
        "nan.wav": "NaN",
        "tiny.wav": "too short",
    }

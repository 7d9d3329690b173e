"""Audio data: decoding to 16 kHz mono, the guards and their skip reasons, folders, tables, inputs, inspect,
and the numpy mel front-end (checked against librosa when it is installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from headstart.data import audio as A
from headstart.data import load_dataset, load_inputs
from headstart.data.inspect import inspect_dataset
from headstart.data.modalities import get_modality
from headstart.errors import BadItemError, DataError
from tests.audio_data import make_audio_csv, make_audio_folder, tone, write, write_bad_files


def test_any_rate_and_channels_become_16k_mono(tmp_path: Path) -> None:
    stereo = np.stack([tone(440, 1.0, rate=44_100), tone(440, 1.0, rate=44_100, seed=1)], axis=1)
    for rate, wave, name in ((44_100, stereo, "a.wav"), (192_000, tone(440, 0.5, rate=192_000), "b.flac"),
                             (8_000, tone(440, 0.5), "c.ogg")):  # fmt: skip
        path = write(tmp_path / name, wave, rate=rate, subtype="VORBIS" if name.endswith(".ogg") else "PCM_16")
        wav = A.read_audio(path)
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert abs(len(wav) - len(wave) * A.SAMPLE_RATE / rate) <= 2
        spectrum = np.abs(np.fft.rfft(wav))
        assert abs(np.argmax(spectrum) * A.SAMPLE_RATE / len(wav) - 440) < 5  # the tone survives resampling


def test_eight_channels_are_mixed_down(tmp_path: Path) -> None:
    path = write(tmp_path / "eight.wav", np.tile(tone(300, 0.5)[:, None], (1, 8)))
    assert A.read_audio(path).shape == (A.SAMPLE_RATE // 2,)


def test_bad_files_each_have_a_reason(tmp_path: Path) -> None:
    expected = write_bad_files(tmp_path / "bad")
    for name, fragment in expected.items():
        with pytest.raises(BadItemError) as err:
            A.read_audio(tmp_path / "bad" / name)
        assert fragment in err.value.reason, (name, err.value.reason)


def test_max_duration_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "three.wav", tone(300, 3.0))
    monkeypatch.setenv(A.MAX_SECONDS_ENV, "2")
    with pytest.raises(BadItemError, match="too long: 3.0 s"):
        A.read_audio(path)
    monkeypatch.setenv(A.MAX_SECONDS_ENV, "4")
    assert len(A.read_audio(path)) == 3 * A.SAMPLE_RATE


def test_folder_of_recordings_is_an_audio_dataset(tmp_path: Path) -> None:
    root = make_audio_folder(tmp_path / "voices")
    write_bad_files(root / "high")
    (root / "low" / "notes.txt").write_text("not a recording")
    ds = load_dataset(root)
    assert ds.modality == "audio" and ds.classes == ["high", "low"]
    reasons = {s.id: s.reason for s in ds.skipped}
    assert "empty file" in reasons["high/empty.wav"] and "too long" in reasons["high/hour.wav"]
    assert "not an audio file" in reasons["low/notes.txt"]
    assert "high/silent.wav" in ds.ids  # only decoding tells it is silent: skipped when it is decoded


def test_fail_policy_raises_on_the_first_bad_header(tmp_path: Path) -> None:
    root = make_audio_folder(tmp_path / "voices", per_class=2)
    (root / "low" / "zero.wav").write_bytes(b"")
    with pytest.raises(BadItemError, match="low/zero.wav"):
        load_dataset(root, on_bad="fail")


def test_table_with_a_path_column(tmp_path: Path) -> None:
    folder = make_audio_folder(tmp_path / "clips", per_class=3)
    table = make_audio_csv(tmp_path / "clips.csv", folder)
    ds = load_dataset(table)
    assert ds.modality == "audio" and len(ds) == 6 and Path(ds.items[0]).is_absolute()
    assert sorted(set(ds.labels or ())) == ["high", "low"]


def test_text_tables_and_image_folders_are_not_claimed(tmp_path: Path, text_csv: Path, image_folder: Path) -> None:
    assert load_dataset(text_csv).modality == "text"
    assert load_dataset(image_folder).modality == "image"


def test_inputs_to_predict(tmp_path: Path) -> None:
    folder = make_audio_folder(tmp_path / "clips", per_class=2)
    (folder / "low" / "zero.wav").write_bytes(b"")
    ds = load_inputs([str(folder / "high"), str(folder / "low")], modality="audio")
    assert len(ds) == 4 and [s.reason for s in ds.skipped] == ["empty file (0 bytes)"]
    with pytest.raises(DataError, match="does not exist"):
        load_inputs([str(tmp_path / "missing.wav")], modality="audio")


def test_inspect_reports_durations_rates_and_problems(tmp_path: Path) -> None:
    root = make_audio_folder(tmp_path / "voices", per_class=3)
    write(root / "low" / "quiet.wav", np.zeros(4000, np.float32))
    write(root / "high" / "loud.wav", np.clip(tone(500, 0.5) * 10, -1, 1))
    report = inspect_dataset(load_dataset(root))
    stats = report.image_sizes
    assert stats is not None
    assert stats["sample_rate"]["max"] == 8000 and 0.3 < stats["seconds"]["min"] < stats["seconds"]["max"] < 1
    assert stats["flags"]["silent"] == 1 and stats["flags"]["clipped"] == 1
    assert [s["id"] for s in report.skipped] == ["low/quiet.wav"] and report.n_items == 7


def test_digest_is_the_file_content(tmp_path: Path) -> None:
    a = write(tmp_path / "a.wav", tone(300))
    b = tmp_path / "b.wav"
    b.write_bytes(a.read_bytes())
    audio = get_modality("audio")
    assert audio.digest(str(a)) == audio.digest(str(b)) != audio.digest(str(write(tmp_path / "c.wav", tone(301))))


def test_partial_windows_follow_resemblyzer() -> None:
    """Starts every 77 frames; a last window kept only when 75 % of it is audio; always at least one."""
    assert A.partial_slices(100) == [0]
    assert A.partial_slices(A.SAMPLE_RATE * 2) == [0, 77]
    assert A.partial_slices(A.SAMPLE_RATE * 5) == [0, 77, 154, 231, 308]
    assert A.mel_windows(tone(300, 5.0, rate=A.SAMPLE_RATE)).shape == (5, 160, 40)


def test_long_recordings_cost_linear_memory() -> None:
    """The mel spectrogram is computed once and windows are views into it: 60 s gives 77 windows."""
    windows = A.mel_windows(tone(300, 60.0, rate=A.SAMPLE_RATE))
    assert windows.shape == (77, 160, 40)
    assert np.array_equal(windows[1, :83], windows[0, 77:])  # overlapping windows share frames


def test_batches_mark_real_windows() -> None:
    batch = A.batch_windows([tone(300, 1.0, rate=A.SAMPLE_RATE), tone(300, 3.0, rate=A.SAMPLE_RATE)])
    assert batch["mel"].shape == (2, 3, 160, 40)
    assert batch["attention_mask"].tolist() == [[1, 0, 0], [1, 1, 1]]
    assert not batch["mel"][0, 1:].any()


@pytest.mark.skipif(importlib.util.find_spec("librosa") is None, reason="librosa is not installed (test-only)")
def test_mel_matches_librosa() -> None:
    import librosa

    wav = tone(440, 1.3, rate=A.SAMPLE_RATE, noise=0.1)
    want = librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    got = A.mel_spectrogram(wav)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
    assert np.allclose(A.mel_filters(), librosa.filters.mel(sr=16000, n_fft=400, n_mels=40), atol=1e-7)


def test_mfcc_statistics() -> None:
    low, high = (A.mfcc_stats(tone(f, 1.0, rate=A.SAMPLE_RATE)) for f in (200, 3000))
    assert low.shape == (80,) and np.isfinite(low).all()
    assert np.abs(low - high).max() > 1.0


def test_inspect_command_shows_durations(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from headstart.cli.main import app

    root = make_audio_folder(tmp_path / "voices", per_class=2)
    result = CliRunner().invoke(app, ["inspect", str(root)])
    assert result.exit_code == 0, result.output
    assert "durations:" in result.output and "sample rates: 8000" in result.output


def test_the_mel_spectrogram_of_a_long_recording_is_computed_in_blocks_with_the_same_numbers() -> None:
    """Blocks of 100 frames (a partial last block) equal one transform of all 2,501 frames."""
    wav = tone(300, 25.0, rate=A.SAMPLE_RATE, seed=3)
    whole = A.mel_spectrogram(wav, block=10_000)
    blocks = A.mel_spectrogram(wav, block=100)
    assert whole.shape == blocks.shape == (2501, A.N_MELS) and whole.dtype == blocks.dtype == np.float32
    assert np.allclose(blocks, whole, rtol=1e-6, atol=0)

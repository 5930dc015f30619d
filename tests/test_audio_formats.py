"""One sound, one answer: every WAV sample format SciPy writes is read on the 16-bit scale,
so a clip's features and class do not depend on its bit depth."""

import numpy as np
import pytest
from scipy.io import wavfile

from unfoldrnn.data.audio import int16_scale, read_wav
from unfoldrnn.data.own import audio_features

from shared_data import DATA, WHERE

FORMATS = {  # int16 samples -> the same sound in each format
    "int16": lambda x: x,
    "int32": lambda x: x.astype(np.int32) << 16,
    "uint8": lambda x: np.clip(np.round(x / 256.0) + 128, 0, 255).astype(np.uint8),
    "float32": lambda x: (x / 32768.0).astype(np.float32),
    "float64": lambda x: x / 32768.0,
}


def test_int16_scale_against_hand_values():
    assert int16_scale(np.array([-32768, 32767], np.int16)).tolist() == [-32768, 32767]
    assert int16_scale(np.array([-2 ** 31, 2 ** 16], np.int32)).tolist() == [-32768, 1]
    assert int16_scale(np.array([0, 128, 255], np.uint8)).tolist() == [-32768, 0, 32512]
    assert int16_scale(np.array([-1.0, 0.5], np.float32)).tolist() == [-32768, 16384]


def clip_in_every_format(samples, folder):
    paths = {}
    for name, convert in FORMATS.items():
        paths[name] = folder / f"clip-{name}.wav"
        wavfile.write(paths[name], 16000, convert(samples))
    return paths


def test_features_do_not_depend_on_the_bit_depth(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    samples = (6000 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
               + 400 * rng.standard_normal(16000)).astype(np.int16)
    paths = clip_in_every_format(samples, tmp_path)
    assert np.array_equal(read_wav(paths["int16"]), samples.astype(float))
    features = {name: audio_features([p])[0] for name, p in paths.items()}
    for name in ("int32", "float32", "float64"):  # the same samples, exactly
        assert np.allclose(features[name], features["int16"], atol=1e-6), name
    # 8 bits quantise the sound: close where it is loud, not equal
    assert np.abs(features["uint8"] - features["int16"]).mean() < 0.5


def test_a_shipped_model_gives_one_class_at_every_bit_depth(tmp_path):
    yes = DATA / "speech_commands" / "speech_commands_test_set_v0.02" / "yes"
    if not yes.is_dir():
        pytest.skip(f"needs the Google-12 test set under {WHERE}")
    from unfoldrnn.predict import classify
    from unfoldrnn.pretrained import pretrained

    task = pretrained("speech-gru")
    samples = wavfile.read(sorted(yes.glob("*.wav"))[0])[1]
    paths = clip_in_every_format(samples, tmp_path)
    rows = classify(task.config, task, [str(p) for p in paths.values()], 1)
    assert {r["class"] for r in rows} == {"yes"}, rows

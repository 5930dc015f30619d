import collections
import warnings

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from unfoldrnn.data import DataError, SpeechCommands, find_clips, log_mel, read_wav
from unfoldrnn.data import speech_commands as sc
from unfoldrnn.data.audio import mel_filterbank
from unfoldrnn.data.cache import cache_dir

from shared_data import WHERE
from speech import SAMPLE, TEST_SET, tiny_test_set

needs_data = pytest.mark.skipif(not TEST_SET.exists(), reason=f"no Speech Commands copy at {WHERE}")


def edgeml_features(samples: np.ndarray) -> np.ndarray:
    """microsoft/EdgeML process_g30.py: pad to 16000, log of python_speech_features.fbank."""
    psf = pytest.importorskip("python_speech_features")
    padded = np.zeros(16000)
    padded[: min(16000, len(samples))] = samples[:16000]
    return np.log(psf.fbank(padded, nfilt=32, winfunc=np.hamming)[0])


@needs_data
def test_log_mel_equals_edgeml_featurisation():
    clips = [read_wav(p) for p in sorted(TEST_SET.glob("*/*.wav"))[::250]]
    rng = np.random.default_rng(0)
    clips += [clips[0][:9000],  # short: zero-padded
              np.concatenate([clips[1], clips[2]]),  # long: cut to 1 s
              np.zeros(16000),  # silent: log of eps, as python_speech_features
              rng.normal(0, 3000, 16000)]
    batch = log_mel(np.stack([np.pad(c[:16000], (0, max(0, 16000 - len(c)))) for c in clips]))
    assert batch.shape == (len(clips), 99, 32) and batch.dtype == np.float32
    for clip, ours in zip(clips, batch, strict=True):
        reference = edgeml_features(clip)
        assert np.abs(ours - reference).max() < 1e-3
        assert np.array_equal(log_mel(clip), ours)


def test_mel_filterbank_triangles_by_hand():
    bank = mel_filterbank(32)
    assert bank.shape == (32, 257)
    assert np.all(bank >= 0) and np.all(bank <= 1)
    assert np.allclose(bank.max(1), 1.0)  # every triangle peaks at 1 on its centre bin
    # centres increase and neighbouring triangles overlap on the Mel scale
    centres = bank.argmax(1)
    assert np.all(np.diff(centres) > 0)
    # filter 0 starts at bin 0 (0 Hz) and the last ends at bin floor(513 * 8000 / 16000) = 256
    assert bank[0, 0] == 0 and bank[:, 256].sum() == 0 and bank[-1, 255] > 0


def test_bad_clips_are_refused_with_the_file_name(tmp_path):
    wavfile.write(tmp_path / "rate.wav", 8000, np.zeros(8000, dtype=np.int16))
    wavfile.write(tmp_path / "stereo.wav", 16000, np.zeros((16000, 2), dtype=np.int16))
    wavfile.write(tmp_path / "empty.wav", 16000, np.zeros(0, dtype=np.int16))
    (tmp_path / "junk.wav").write_bytes(b"RIFF....not a wav at all")
    good = tmp_path / "good.wav"
    wavfile.write(good, 16000, (np.arange(16000) % 100).astype(np.int16))
    (tmp_path / "cut.wav").write_bytes(good.read_bytes()[:30])
    for name, message in [("rate", "8000 Hz"), ("stereo", "2 channels"), ("empty", "no samples"),
                          ("junk", "not a readable wav"), ("cut", "not a readable wav"),
                          ("missing", "not found")]:
        with pytest.raises(DataError, match=message) as err:
            read_wav(tmp_path / f"{name}.wav")
        assert f"{name}.wav" in str(err.value)
    assert read_wav(good)[:3].tolist() == [0, 1, 2]


@needs_data
def test_speaker_split_of_the_canonical_test_set():
    clips = find_clips(TEST_SET, "google12")
    assert len(clips) == 4890
    counts = collections.Counter(s for _, _, s in clips)
    assert 0.75 < counts["train"] / 4890 < 0.85 and 0.06 < counts["test"] / 4890 < 0.14
    speakers = collections.defaultdict(set)
    for path, _, split in clips:
        speakers[sc.speaker_of(path)].add(split)
    assert all(len(s) == 1 for s in speakers.values())  # no speaker in two splits
    assert sc.speaker_of("x/_unknown_/backward_0c540988_nohash_0.wav.wav") == "0c540988"
    assert sc.speaker_of("x/yes/022cd682_nohash_3.wav") == "022cd682"
    assert find_clips(TEST_SET) == clips  # deterministic
    labels = collections.Counter(label for _, label, _ in clips)
    assert len(labels) == 12 and min(labels.values()) == 396


def test_speaker_folds_test_disjoint_tenths_of_the_speakers(tmp_path):
    """Fold k tests the speakers whose hash percent is in [10 + 10 k, 20 + 10 k) mod 100 and
    validates on the tenth before: ten folds test every speaker once, fold 0 is the
    canonical split, and no speaker is in two splits of a fold."""
    names = [f"{k:08x}" for k in range(2000)]
    tested = collections.Counter()
    for fold in range(sc.FOLDS):
        splits = {n: sc._split_by_hash(n, fold) for n in names}
        for n, split in splits.items():
            p = sc._percent(n)
            want = "test" if (p - 10 - 10 * fold) % 100 < 10 else \
                "valid" if (p - 10 * fold) % 100 < 10 else "train"
            assert split == want
            tested[n] += split == "test"
            # the fold before tests what this one validates on
            assert (split == "valid") == (sc._split_by_hash(n, (fold - 1) % sc.FOLDS) == "test")
        assert 0.06 < sum(s == "test" for s in splits.values()) / len(names) < 0.14
    assert set(tested.values()) == {1}
    assert all(sc._split_by_hash(n) == sc._split_by_hash(n, 0) for n in names)
    root = tiny_test_set(tmp_path / "g12", per_split=(2, 1, 1)) if TEST_SET.exists() else None
    if root is not None:
        folds = [find_clips(root, fold=k) for k in range(sc.FOLDS)]
        assert folds[0] == find_clips(root)
        for clips in folds:
            speakers = collections.defaultdict(set)
            for path, _, split in clips:
                speakers[sc.speaker_of(path)].add(split)
            assert all(len(s) == 1 for s in speakers.values())
        assert sum(sum(s == "test" for *_, s in c) for c in folds) == len(folds[0])
        k = next(k for k in range(1, sc.FOLDS) if {s for *_, s in folds[k]} == set(sc.SPLITS))
        test = SpeechCommands(root, "test", fold=k, progress=False)
        assert test.files == [f for f, _, s in folds[k] if s == "test"]
        from unfoldrnn.config import TrainConfig
        from unfoldrnn.tasks import ClassificationTask

        config = TrainConfig(task="classification", data=str(root), model="gru", speaker_fold=k)
        splits = ClassificationTask.load_data(config, progress=False)
        assert torch.equal(splits[2][1], test.labels) and len(splits[1][1]) == sum(
            s == "valid" for *_, s in folds[k])
        assert ClassificationTask.test_groups(config) == [sc.speaker_of(f) for f in test.files]
    with pytest.raises(DataError, match="speaker fold must be an integer from 0 to 9"):
        find_clips(tmp_path, fold=10)


@needs_data
def test_speaker_folds_are_refused_where_lists_fix_the_splits():
    with pytest.raises(DataError, match="official layout, whose lists fix the splits"):
        find_clips(SAMPLE, "google30", fold=1)
    assert find_clips(SAMPLE, "google30", fold=0) == find_clips(SAMPLE, "google30")


@needs_data
def test_official_layout_uses_the_official_lists():
    test = SpeechCommands(SAMPLE, "test", "google30", progress=False)
    listed = {line.strip() for line in (SAMPLE / "testing_list.txt").read_text().splitlines()}
    assert len(test) > 0 and all("/".join(f.split("/")[-2:]) in listed for f in test.files)
    train = SpeechCommands(SAMPLE, "train", "google30", progress=False)
    assert not set(train.files) & set(test.files)
    assert len(train) + len(test) + len(SpeechCommands(SAMPLE, "valid", "google30",
                                                       progress=False)) == 300
    features, label = train[0]
    assert features.shape == (99, 32) and train.classes[label] == train.files[0].split("/")[-2]
    # Google-12: the ten words, and "unknown" drawn from the other twenty words
    g12 = SpeechCommands(SAMPLE, "train", "google12", progress=False)
    names = [g12.classes[i] for i in g12.labels]
    assert set(names) <= set(sc.CLASS_SETS["google12"]) and "unknown" in names
    unknown = [f for f, n in zip(g12.files, names, strict=True) if n == "unknown"]
    assert all(f.split("/")[-2] not in sc.WORDS10 for f in unknown)


def test_official_google12_cuts_background_noise_into_silence(tmp_path):
    root = tmp_path / "sc"
    rng = np.random.default_rng(0)
    for word in ("yes", "no", "cat"):
        (root / word).mkdir(parents=True)
        for k in range(4):
            wavfile.write(root / word / f"{k:08x}_nohash_0.wav", 16000,
                          rng.integers(-900, 900, 16000).astype(np.int16))
    (root / "_background_noise_").mkdir()
    wavfile.write(root / "_background_noise_" / "noise.wav", 16000,
                  rng.integers(-900, 900, 16000 * 30 + 500).astype(np.int16))
    (root / "testing_list.txt").write_text("yes/00000000_nohash_0.wav\n")
    (root / "validation_list.txt").write_text("no/00000001_nohash_0.wav\n")
    clips = find_clips(root, "google12")
    silence = [c for c in clips if c[1] == 0]
    assert silence and all("noise.wav#" in c[0] for c in silence)
    assert max(int(c[0].split("#")[1]) for c in silence) < 30  # 30 whole seconds
    data = SpeechCommands(root, "train", "google12", progress=False)
    assert data.features.shape[1:] == (99, 32) and torch.isfinite(data.features).all()


def test_folder_and_argument_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a Speech Commands folder"):
        find_clips(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        find_clips(tmp_path / "nothing")
    layout = tmp_path / "layout"
    for folder in ("_silence_", "_unknown_", *sc.WORDS10):
        (layout / folder).mkdir(parents=True)
    with pytest.raises(DataError, match="no wav files"):
        find_clips(layout)
    with pytest.raises(DataError, match="'google30' needs the official layout"):
        find_clips(layout, "google30")
    with pytest.raises(DataError, match="unknown class set"):
        SpeechCommands(layout, "train", "google35")
    with pytest.raises(DataError, match="unknown split"):
        SpeechCommands(layout, "validation")


@needs_data
def test_features_are_cached_and_a_corrupt_cache_is_recomputed(tmp_path, monkeypatch):
    root = tiny_test_set(tmp_path / "sc")
    others = set(cache_dir().glob("speech-*.npz"))  # other tests' entries: not corrupted
    first = SpeechCommands(root, "train", progress=False)
    entries = set(cache_dir().glob("speech-*.npz")) - others
    assert len(entries) == 1

    def no_featurising(*args, **kwargs):
        raise AssertionError("featurised again instead of reading the cache")

    with monkeypatch.context() as patch:
        patch.setattr(sc, "featurize", no_featurising)
        again = SpeechCommands(root, "train", progress=False)
    assert torch.equal(first.features, again.features) and first.files == again.files
    for entry in entries:
        entry.write_bytes(b"corrupt")
    with pytest.warns(UserWarning, match="corrupt"):
        recomputed = SpeechCommands(root, "train", progress=False)
    assert torch.equal(first.features, recomputed.features)
    with warnings.catch_warnings():  # the entry was rewritten: read silently
        warnings.simplefilter("error")
        SpeechCommands(root, "test", progress=False)
    # another featurisation setting is another entry
    assert SpeechCommands(root, "train", num_filters=20, progress=False).features.shape[2] == 20


def test_clip_lengths_are_the_frames_a_clip_fills_before_its_zero_padding(tmp_path):
    """SpeechCommands.lengths: python_speech_features' frame count of each clip without its
    zero padding (cut at 1 s), padded by the loader or in the file; with clip_lengths the
    task's splits carry them, without it they do not."""
    sigproc = pytest.importorskip("python_speech_features.sigproc")
    from unfoldrnn.config import TrainConfig
    from unfoldrnn.tasks import ClassificationTask

    root = tmp_path / "sc"
    rng = np.random.default_rng(0)
    sizes = {"yes": [16000, 12345, 8000, 401, 300, 20000], "no": [9000, 16000]}
    for word, lengths in sizes.items():
        (root / word).mkdir(parents=True)
        for k, n in enumerate(lengths):
            samples = rng.integers(1, 900, n) * rng.choice([-1, 1], n)  # never 0
            if k == 1:  # padded in the file, as the canonical Google-12 test set comes
                samples = np.concatenate([samples, np.zeros(16000 - n, dtype=samples.dtype)])
            wavfile.write(root / word / f"{k:08x}_nohash_0.wav", 16000, samples.astype(np.int16))
    (root / "testing_list.txt").write_text("no/00000000_nohash_0.wav\n")
    (root / "validation_list.txt").write_text("no/00000001_nohash_0.wav\n")
    data = SpeechCommands(root, "train", "google12", progress=False)
    expected = [len(sigproc.framesig(np.ones(min(n, 16000)), 400, 160)) for n in sizes["yes"]]
    assert expected == [99, 76, 49, 2, 1, 99]
    assert sorted(data.lengths.tolist()) == sorted(expected)
    for file, length in zip(data.files, data.lengths.tolist(), strict=True):
        n = sizes["yes"][int(file.split("/")[-1][:8], 16)]
        assert length == len(sigproc.framesig(np.ones(min(n, 16000)), 400, 160))
        # the frames after it are the padding: every filter at the log of the floor energy
        frames = data.features[data.files.index(file)]
        if n < 16000 - 400:
            assert torch.all(frames[length + 2:] == frames.min())
            assert torch.all(frames[length - 1] > frames.min())
    config = TrainConfig(task="classification", data=str(root), model="gru")
    assert [len(s) for s in ClassificationTask.load_data(config, progress=False)] == [2, 2, 2]
    config = TrainConfig(task="classification", data=str(root), model="gru", clip_lengths=True)
    splits = ClassificationTask.load_data(config, progress=False)
    assert torch.equal(splits[0][2], data.lengths) and splits[2][2].tolist() == [55]


def test_predict_reads_a_clip_at_its_length_where_the_run_did(tmp_path):
    """unfoldrnn predict / evaluate --data on audio: a run trained with clip_lengths reads
    each clip at its unpadded frames (the loader's count), one trained without at frame 99."""
    from unfoldrnn.config import TrainConfig
    from unfoldrnn.data.own import audio_features
    from unfoldrnn.predict import classify, labelled
    from unfoldrnn.tasks import ClassificationTask

    rng = np.random.default_rng(1)
    (tmp_path / "yes").mkdir()
    for k, n in enumerate((8000, 16000, 12345)):
        samples = rng.integers(1, 900, n) * rng.choice([-1, 1], n)
        wavfile.write(tmp_path / "yes" / f"{k}.wav", 16000,
                      np.pad(samples, (0, 16000 - n)).astype(np.int16))
    (tmp_path / "no").mkdir()  # a labelled folder has two classes at least
    for k in range(3):  # and three clips a class
        wavfile.write(tmp_path / "no" / f"{k}.wav", 16000,
                      rng.integers(1, 900, 16000).astype(np.int16))
    files = sorted(str(p) for p in (tmp_path / "yes").glob("*.wav"))
    features, lengths = audio_features(files, lengths=True)
    assert lengths.tolist() == [49, 99, 76]  # python_speech_features' frames of each clip
    task = ClassificationTask("gru", 32, 12, hidden_size=8, num_layers=1)
    task.class_names = [str(c) for c in range(10)] + ["no", "yes"]
    x = torch.from_numpy(features)
    for clip_lengths in (False, True):
        config = TrainConfig(task="classification", data=str(tmp_path), model="gru",
                             clip_lengths=clip_lengths)
        rows = classify(config, task, files, 1)
        with torch.no_grad():
            want = task(x, torch.from_numpy(lengths) if clip_lengths else None).softmax(1)
        assert [r["probability"] for r in rows] == pytest.approx(want.max(1).values.tolist())
        assert len(labelled(config, task, tmp_path)) == (3 if clip_lengths else 2)


def test_speaker_fold_is_a_classification_setting_of_the_google12_test_set(tmp_path):
    """A run made before the key existed is the same run as speaker_fold = 0, another fold is
    another run; a fold out of range or on your own data is refused by name."""
    from unfoldrnn.config import ConfigError, TrainConfig
    from unfoldrnn.runs import config_differences
    from unfoldrnn.tasks import ClassificationTask

    old = {"task": "classification", "data": str(tmp_path), "model": "gru", "epochs": 3}
    assert config_differences(old, {**old, "speaker_fold": 0}) == {}
    assert config_differences(old, {**old, "speaker_fold": 2}) == {"speaker_fold": (0, 2)}
    with pytest.raises(ConfigError, match="speaker_fold must be from 0 to 9, got 10"):
        TrainConfig(**old, speaker_fold=10)
    with pytest.raises(ConfigError, match="speaker_fold applies to task classification"):
        TrainConfig(task="language_model", data=str(tmp_path), speaker_fold=1)
    arrays = tmp_path / "own.npz"
    np.savez(arrays, x=np.zeros((20, 5, 2), np.float32), y=np.arange(20) % 2)
    config = TrainConfig(task="classification", data=str(arrays), model="gru", speaker_fold=1)
    with pytest.raises(DataError, match="speaker_fold applies to the Google-12 test set"):
        ClassificationTask.load_data(config, progress=False)

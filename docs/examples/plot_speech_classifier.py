"""
A speech classifier and its confusion matrix
============================================

The certified speech classifier shipped with the package (a one-layer reweighted-RNN on
Google-12, 32 log Mel features per 10 ms frame, paper 000 Sec. 4) on the Speech Commands
test clips, when a copy of them is found (``$UNFOLDRNN_TEST_DATA`` or ``shared/data`` beside
the repository). Without one, the same pipeline trains a GRU on a folder of generated tones
(``class_name/*.wav``: any folder of that layout is a data set).
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.io import wavfile

import unfoldrnn
from unfoldrnn import plots
from unfoldrnn.config import TrainConfig
from unfoldrnn.pretrained import pretrained
from unfoldrnn.tasks import confusion_matrix
from unfoldrnn.train import build_data, fit, load_run

shared = Path(os.environ.get("UNFOLDRNN_TEST_DATA") or
              Path(unfoldrnn.__file__).resolve().parents[3] / "shared" / "data")
speech = shared / "speech_commands" / "speech_commands_test_set_v0.02"
out = Path(tempfile.mkdtemp())
if speech.exists():
    task = pretrained("speech-certified")
    task.config.data = str(speech)
    test = build_data(task.config, progress=False)[2]
    title = "speech-certified on the Google-12 test split"
else:  # generated tones: 300, 800 and 2000 Hz
    rng = np.random.default_rng(0)
    for name, f in (("low", 300.0), ("mid", 800.0), ("high", 2000.0)):
        (out / "tones" / name).mkdir(parents=True)
        for k in range(20):
            t = np.arange(int(16000 * rng.uniform(0.5, 1.0))) / 16000
            clip = 8000 * np.sin(2 * np.pi * f * t) + 2000 * rng.standard_normal(len(t))
            wavfile.write(out / "tones" / name / f"{k}.wav", 16000, clip.astype(np.int16))
    config = TrainConfig(task="classification", data=str(out / "tones"), model="gru",
                         num_layers=1, hidden_size=16, batch_size=8, epochs=8)
    fit(config, out / "run", progress=False, log=lambda *_: None)
    config, task, _ = load_run(out / "run")
    test = build_data(config, progress=False)[2]
    title = "a GRU on generated tones"

# %%
# The confusion matrix of the test clips: row = true class, column = predicted class.
counts = confusion_matrix(task.predict(test), test[1], task.num_classes)
print(f"test accuracy {100 * counts.trace() / counts.sum():.1f}% on {int(counts.sum())} clips")
plots.confusion(counts, task.class_names, None, title)
plt.show()

"""Small Speech Commands folders made of real clips, for fast tests."""

import shutil
from pathlib import Path

from unfoldrnn.data.speech_commands import CLASS_SETS, speaker_split

from shared_data import DATA

SHARED = DATA / "speech_commands"
TEST_SET = SHARED / "speech_commands_test_set_v0.02"
SAMPLE = SHARED / "speech_commands_v0.01_sample"


def tiny_test_set(root: Path, per_split=(3, 1, 1)) -> Path:
    """The canonical Google-12 layout with per_split (train, valid, test) clips per class."""
    wanted = dict(zip(("train", "valid", "test"), per_split, strict=True))
    for name in CLASS_SETS["google12"]:
        folder = f"_{name}_" if name in ("silence", "unknown") else name
        (root / folder).mkdir(parents=True)
        taken = dict.fromkeys(wanted, 0)
        for wav in sorted((TEST_SET / folder).iterdir()):
            split = speaker_split(wav)
            if taken[split] < wanted[split]:
                shutil.copy(wav, root / folder / wav.name)
                taken[split] += 1
    return root

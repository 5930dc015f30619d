"""Where the tests find real data: ``$UNFOLDRNN_TEST_DATA`` if set, else the ``shared/data``
folder beside the repository. Tests that need a copy skip, and the run's last lines say
which were skipped and why (conftest.py)."""

import os
from pathlib import Path

DATA = Path(os.environ.get("UNFOLDRNN_TEST_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
WHERE = f"{DATA} (set UNFOLDRNN_TEST_DATA to the folder holding mnist/, ptb/, ...)"

"""python -m unfoldrnn.cli"""

import sys

from . import main

sys.exit(main())

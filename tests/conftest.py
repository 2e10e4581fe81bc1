"""Suite-wide test settings.

Under CI (``CI`` set, as `.ci/run` runs) hypothesis draws its examples deterministically, so a
submission's result does not depend on the luck of the draw; locally it keeps exploring new examples
(and replays the failures it saved in .hypothesis/).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

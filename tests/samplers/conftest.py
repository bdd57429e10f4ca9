"""Make the helper module of these tests importable (``import samplers_testlib``)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

"""The reference model that ships in the repository (models/landscapes-128, written by release.shipping) still gives
the figures it states.

Its ``figures.json`` holds, under ``subset``, the figures of the model and of the gray image on a fixed subset of
the landscape test split: the first 64 files of the sorted test split, at the model's size. This test loads the
shipped folder, takes that subset again (the data found the usual way: $COLORGAN_DATA, data/landscapes, then
../shared/data/landscapes), scores both again, and on the photos of other subjects (`make ood`), and compares
within TOLERANCE (tests/helpers.py, check_shipped_figures), so a change that breaks loading the model or the
colour pipeline fails CI.
(`tests/release/test_shipping.py` runs the same check on a folder it ships.)
"""

from __future__ import annotations

import pytest
from helpers import check_shipped_figures

from colorgan.base import paths
from colorgan.data import datasets


@pytest.mark.slow  # the real landscape photos, scored twice
def test_the_shipped_model_keeps_its_figures():
    root = paths.repo_root()
    _, source = datasets.resolve_data_dir("", root)
    if source == datasets.BUILT_IN:
        pytest.skip("the landscape photos are not here ($COLORGAN_DATA, data/landscapes, ../shared/data/landscapes)")
    check_shipped_figures(paths.shipped_model_dir(), root)

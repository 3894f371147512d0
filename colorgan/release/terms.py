"""What a model card says beyond its figures: where the training photos come from and under what licence, what the
model is for and what it is not for, and the terms of its weights (the code's licence and the data's terms).

The landscape set is named by what it is (Intel Image Classification on Kaggle), never by a machine's path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from colorgan.base import paths
from colorgan.data import datasets

LANDSCAPE_SET = ("Intel Image Classification (Kaggle: `puneet6060/intel-image-classification`), the photos of its "
                 "`seg_train` folder in 5 classes: buildings, forest, glacier, mountain, street")
LANDSCAPE_TERMS = "the Kaggle set's"


def _is_landscapes(info: dict) -> bool:
    return info.get("data_source") in datasets.LANDSCAPES


def data_source_section(info: dict) -> list[str]:
    """Which data set the photos are and under what licence: the landscape set's, named, never a machine path."""
    source = info.get("data_source", "?")
    if _is_landscapes(info):
        what = (f"{LANDSCAPE_SET} (the project's landscape set). Its licence is {LANDSCAPE_TERMS}: see the data "
                "set's page on Kaggle; nothing here changes it, and the photos are not part of this repository.")
    elif source == datasets.BUILT_IN:
        what = ("the built-in sample set, not a data set: crops of the colour photographs bundled with scikit-image "
                "and scikit-learn, under those projects' terms for their sample images. Figures from it are not "
                "comparable with a data set's.")
    else:
        what = (f"a folder named by {source}: its source and licence are not recorded here; the weights carry its "
                "terms.")
    return ["## Data source and licence", "", f"The training photos are {what}", ""]


def use_sections(info: dict, ood: dict | None) -> list[str]:
    """Intended use and out-of-scope use; where the card has the model's figures on photos of other subjects
    (``ood``), the out-of-scope line on them says what those figures show."""
    like = ("landscape and city-scene photos like the training set: outdoor views of buildings, forests, glaciers, "
            "mountains and streets" if _is_landscapes(info) else "photos like its training data (below)")
    if ood:
        gain = ood["psnr_gain"]
        pooled = ood["model"]["psnr"] - ood["gray"]["psnr"]
        where = ("below the gray image" if gain["high"] < 0 else "at or below the gray image" if pooled <= 0 or
                 gain["low"] <= 0 else "above the gray image on so few photos, a smoke alarm, not a benchmark")
        measured = (f"on its own figures (*Photos of other subjects* below) it is {where} there: per photo "
                    f"{gain['mean']:+.2f} dB, paired 95% interval [{gain['low']:+.2f}, {gain['high']:+.2f}] "
                    f"({gain['verdict']}), pooled {pooled:+.2f} dB")
    else:
        measured = "it gives them the colours of its training photos (`make ood MODEL=...` measures it)"
    return [
        "## Intended use",
        "",
        f"- Colorizing black-and-white or greyscale {like}, where plausible colours are enough (illustration), and "
        "as a research baseline for this harness's experiments.",
        "",
        "## Out-of-scope use",
        "",
        f"- Other subjects (people, animals, objects, indoor scenes): {measured}.",
        "- Historical photos of people: skin, clothing, uniforms and flags would get invented colours, not recovered "
        "ones, and a colorized archive photo is easily taken for a record of the real colours.",
        "- Anything that needs the true colours of a scene (evidence, documentation, restoration claims).",
        "",
    ]


def code_licence(checkout: Path = paths.CHECKOUT) -> str:
    """The licence the repository states for its code (pyproject's ``license``, else a LICENSE file's first
    line), or "" when it states none."""
    project = tomllib.loads((checkout / "pyproject.toml").read_text()).get("project", {}) \
        if (checkout / "pyproject.toml").is_file() else {}
    stated = project.get("license", "")
    if isinstance(stated, dict):
        stated = stated.get("text", "") or stated.get("file", "")
    files = sorted(checkout.glob("LICEN[CS]E*"))
    return str(stated) or (files[0].read_text().strip().splitlines()[0] if files else "")


def weights_terms(info: dict) -> list[str]:
    """The terms of the weights: the code's licence, and the terms of the data they were trained on."""
    licence = code_licence()
    code = (f"the licence of the colorgan code that trained them: {licence}" if licence else
            "the licence of the colorgan code that trained them; the repository states none yet (no LICENSE file, "
            "no `license` in pyproject.toml), so until it does, ask its authors before reusing them")
    data = (f"trained on {LANDSCAPE_SET.split(' (')[0]}, they are also under {LANDSCAPE_TERMS} terms"
            if _is_landscapes(info) else "they are also under the terms of the data they were trained on (above)")
    return ["## Licence and terms of the weights", "", f"The weights are under {code}; {data}.", ""]

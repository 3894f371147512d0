"""release.cards and release.terms: every section of a shipped model's card, written from figures as `colorgan ship`
records them (no model, no store): the data's source and licence named without a machine path, intended and
out-of-scope use read from the model's own figures on other subjects, the sample grid, what using it costs and the
terms of its weights."""

from __future__ import annotations

import pytest

from colorgan.base import config
from colorgan.release import cards, terms


def _row(group: str, n: int, psnr: float) -> dict:
    return {"group": group, "n": n, "psnr": psnr, "psnr_ci95": 0.3, "colorfulness": 30.0, "colorfulness_ci95": 1.0,
            "colorfulness_orig": 37.0, "colorfulness_gap": 12.0, "colorfulness_gap_ci95": 0.9,
            "colorfulness_delta": -6.4}


INFERENCE = {"cpu": "Some CPU", "cores": 2, "load": 1.5, "parameters": 15054850,
             "photos": [{"side": 128, "seconds": 0.04, "seconds_min": 0.03, "repeats": 5, "loaded_mb": 950.0,
                         "peak_mb": 1030.0},
                        {"side": 1024, "seconds": 0.12, "seconds_min": 0.1, "repeats": 5, "loaded_mb": 950.0,
                         "peak_mb": 1060.0}]}


def _figures(gain=(-0.18, -1.57, 1.22), pooled=-0.88) -> dict:
    model, gray = [_row("all", 10, 23.5), _row("forest", 10, 22.5)], [_row("all", 10, 21.1), _row("forest", 10, 19.6)]
    ood_model, ood_gray = _row("all", 7, 18.0 + pooled), _row("all", 7, 18.0)
    return {"source": "run abc", "command": "make train EXP=x", "n_test": 10, "test": {"model": model, "gray": gray},
            "subset": {"files": ["a.jpg"]}, "training_cpu": [],
            "other_subjects": {"files": ["other/astronaut.png"], "model": ood_model, "gray": ood_gray,
                               "psnr_per_photo": {"model": [18.0], "gray": [18.2]},
                               "psnr_gain": {"mean": gain[0], "low": gain[1], "high": gain[2],
                                             "verdict": "within noise"}},
            "sample_grid": {"file": "samples.png", "files": [f"c/{i}.jpg" for i in range(10)]},
            "inference": INFERENCE}


LANDSCAPES = {"data_dir": "/some/machine/path/landscapes", "data_source": "shared data ../shared/data/landscapes",
              "n_usable": 7129, "n_files": 7129, "n_skipped": 0, "n_eval": 654, "n_test": 654}


def test_a_shipped_card_holds_every_section():
    card = cards.shipped_card("models/x-128", config.Config(), _figures(), LANDSCAPES, {"n_train": 5310})
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    for title in ("## What it does", "## Intended use", "## Out-of-scope use", "## Training data",
                  "## Data source and licence", "## Config", "## Test-split figures", "## Sample grid",
                  "## Photos of other subjects", "## Size, speed and memory", "## How to use it",
                  "## Licence and terms of the weights", "## Limitations"):
        assert title in sections, title
    source = card.split("## Data source and licence")[1].split("## ")[0]
    assert "Intel Image Classification (Kaggle: `puneet6060/intel-image-classification`)" in source
    assert "`seg_train`" in source and "5 classes: buildings, forest, glacier, mountain, street" in source
    assert "Its licence is the Kaggle set's" in source and "/some/machine" not in source
    out = card.split("## Out-of-scope use")[1].split("## ")[0]
    assert "at or below the gray image there: per photo -0.18 dB, paired 95% interval [-1.57, +1.22]" in out
    assert "pooled -0.88 dB" in out and "Historical photos of people" in out
    assert "landscape and city-scene photos like the training set" in card.split("## Intended use")[1]
    assert "![gray | this model | original](samples.png)" in card and "10 test-split photos" in card
    cost = card.split("## Size, speed and memory")[1].split("## ")[0]
    assert "15,054,850 parameters" in cost and "on Some CPU (2 cores, load average 1.5" in cost
    assert "| 128x128 | 40 ms (fastest 30) | 1,030 MB | +80 MB |" in cost
    assert "| 1024x1024 | 120 ms (fastest 100) | 1,060 MB | +110 MB |" in cost
    weights = card.split("## Licence and terms of the weights")[1].split("## ")[0]
    assert "the licence of the colorgan code that trained them" in weights
    assert "trained on Intel Image Classification, they are also under the Kaggle set's terms" in weights
    assert "set-level ΔCF -6.4" in card
    assert "/some/machine" not in card  # nowhere: the card names its data, not a machine's path
    assert "- data: shared data ../shared/data/landscapes (see *Data source and licence*)" in card


def test_a_folder_of_one_s_own_is_named_without_its_machine_path():
    info = {**LANDSCAPES, "data_source": "$COLORGAN_DATA"}
    assert cards.data_line(info, {}) == "a folder named `landscapes` ($COLORGAN_DATA)"


def test_a_card_re_made_from_a_folder_s_own_weights_says_so():
    card = cards.shipped_card("models/x-128", config.Config(), _figures(), LANDSCAPES, {}, kept_sha="0123456789ab")
    assert "from this folder's own weights (`generator.keras` unchanged, sha256 0123456789ab...), shipped from run " \
           "abc." in card.splitlines()[2]


@pytest.mark.parametrize("gain, pooled, words", [
    ((-1.0, -1.8, -0.2), -1.0, "below the gray image there"),
    ((0.1, -0.5, 0.7), 0.2, "at or below the gray image there"),
    ((1.0, 0.2, 1.8), 1.0, "above the gray image on so few photos"),
])
def test_the_out_of_scope_line_reads_the_model_s_own_other_subjects_figures(gain, pooled, words):
    ood = _figures(gain, pooled)["other_subjects"]
    assert words in "\n".join(terms.use_sections(LANDSCAPES, ood))


@pytest.mark.parametrize("source, words", [
    ("built-in samples", "the built-in sample set, not a data set"),
    ("$COLORGAN_DATA", "a folder named by $COLORGAN_DATA: its source and licence are not recorded here"),
])
def test_other_data_is_not_called_the_landscape_set(source, words):
    info = {**LANDSCAPES, "data_source": source}
    text = "\n".join(terms.data_source_section(info) + terms.use_sections(info, None) + terms.weights_terms(info))
    assert words in text and "Kaggle" not in text and "photos like its training data" in text


def test_the_weights_terms_name_the_code_s_licence_where_the_repository_states_one(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nlicense = "MIT"\n')
    assert terms.code_licence(tmp_path) == "MIT"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert terms.code_licence(tmp_path) == ""
    (tmp_path / "LICENSE").write_text("Apache License\nVersion 2.0\n")
    assert terms.code_licence(tmp_path) == "Apache License"
    monkeypatch.setattr(terms, "code_licence", lambda: "")
    assert "the repository states none yet" in "\n".join(terms.weights_terms(LANDSCAPES))

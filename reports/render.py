"""Write a built report: ``index.html`` (self-contained), ``report.md``, ``metrics.csv``, and log them to MLflow.

No timestamps anywhere, so the same runs give the same files.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from reports.build import Report
from reports.declared import Declared
from reports.locations import UI_URL_ENV, artifact_root, ui_url
from reports.source import Source, find_runs

REPORT_EXPERIMENT = "reports"  # experiment-based reports are logged to one run per report name here


def _pm(mean: float, ci: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def summary_table(report: Report) -> pd.DataFrame:
    """One row per run and baseline on the same test images (the "all" group), formatted for reading. The columns
    are the figures colorgan declared and logged with the evaluation (info.json "metrics": name, label, unit,
    digits, mean_of): a mean over images gets its 95% interval."""
    declared = Declared.logged(report.evaluations)
    rows = []
    for _, r in report.table[report.table["group"] == "all"].iterrows():
        row = {"run / baseline": r["label"], "kind": r["kind"], "n": int(r["n"]), "size": r["image_size"]}
        for m in declared:
            if m["mean_of"]:
                value, title = _pm(r[m["name"]], r[f"{m['mean_of']}_ci95"], m["digits"]), f"{m['label']} ± 95% CI"
            else:
                value, title = f"{r[m['name']]:.{m['digits']}f}", m["label"]
            row[title + (f" ({m['unit']})" if m["unit"] else "")] = value
        rows.append(row)
    return pd.DataFrame(rows)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats to 4 significant digits for reading (metrics.csv keeps them all)."""
    return frame.map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)


def _html_table(frame: pd.DataFrame) -> str:
    return readable(frame).to_html(index=False, border=0, classes="t", escape=True)


def _md_table(frame: pd.DataFrame) -> str:
    frame = readable(frame)
    cells = [[str(c) for c in frame.columns]] + [[str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join([lines[0], "|" + "---|" * len(frame.columns), *lines[1:]])


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


NOTE = ("PSNR pooled is the headline (from the mean squared error over all images); per-image PSNR is capped at "
        "100 dB for the mean and median. Intervals are 95% Student-t intervals of the mean over images. "
        "Colourfulness is Hasler & Suesstrunk's; the gap is the mean absolute difference to the originals' per image, "
        "ΔCF the signed difference of the set means (DDColor's figure; 0 is best, a pale model is negative).")

SPLITS = ("Splits: the training curves, the study's objective and the best-trial objective are on the eval split "
          "(scored while training; the within-epoch curves on a fixed subset of it); the tables, the sample grid "
          "and the per-class figure are on the test split (or the declared data folder), scored once by "
          "`colorgan evaluate`.")

CRITIC_TITLE = "Did the critic learn? Its AUC on held-out photos at the end (eval split; 0.5 = chance)"

CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}"
       "table.t td,table.t th{border-bottom:1px solid #ccc;padding:3px 8px;text-align:right}"
       "table.t th{background:#f3f3f3}figure{margin:1.5em 0}"
       "figure img{max-width:100%;width:900px;border:1px solid #eee}pre{background:#f7f7f7;padding:8px;font-size:12px;"
       "overflow:auto}figcaption{font-size:13px;color:#555;max-width:900px}p.note{font-style:italic;color:#555}"
       "p.alarm{font-weight:bold;color:#8a1c00}")


def write(report: Report, source: Source, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    report.table.to_csv(out / "metrics.csv", index=False, float_format="%.6g")
    summary = summary_table(report)
    links = report.links
    title = html.escape(report.spec.title)
    n = next((ev.info["n_images"] for ev in report.evaluations if ev.info.get("n_images")), None)
    scored = f"Runs and baselines on the {report.where}" + (f" ({n} images)" if n else "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{CSS}</style></head>"
             f"<body><h1>{title}</h1>",
             f"<p>Report <code>{html.escape(report.spec.name)}</code> from "
             f"<code>{html.escape(report.spec.source)}</code>"
             f"; data: {html.escape(report.spec.data or 'each model’s test split')}. {html.escape(SPLITS)}</p>",
             *([f"<p class='alarm'>{html.escape(report.critic_alarm)}</p>"] if report.critic_alarm else []),
             f"<h2>{html.escape(scored)}</h2>", _html_table(summary), f"<p>{html.escape(NOTE)}</p>"]
    alarm = [f"**{report.critic_alarm}**", ""] if report.critic_alarm else []  # up front: no GAN phase was a game
    md = [f"# {report.spec.title}", "", SPLITS, "", *alarm, f"## {scored}", "", _md_table(summary), "", NOTE, ""]
    if report.best is not None:
        best = f"Best trial: the objective on the eval split (what the study optimised), PSNR on the {report.where}"
        parts += [f"<h2>{html.escape(best)}</h2>", _html_table(report.best)]
        md += [f"## {best}", "", _md_table(report.best), ""]
    if report.critic is not None:
        parts += [f"<h2>{html.escape(CRITIC_TITLE)}</h2>", _html_table(report.critic)]
        parts += [f"<p>{html.escape(line)}</p>" for line in report.critic_lines]
        md += [f"## {CRITIC_TITLE}", "", _md_table(report.critic), ""]
        md += [line for text in report.critic_lines for line in (text, "")]
    if report.says is not None:
        says = report.says_title
        parts += [f"<h2>{html.escape(says)}</h2>"] + ([_html_table(report.says)] if len(report.says) else [])
        parts += [f"<p>{html.escape(line)}</p>" for line in report.says_lines]
        md += [f"## {says}", ""] + ([_md_table(report.says), ""] if len(report.says) else [])
        md += [line for text in report.says_lines for line in (text, "")]
    parts.append("<h2>Figures</h2>")
    md += ["## Figures", ""]
    for name, files in report.figure_files.items():
        caption = report.captions[name]  # every drawn figure has one: what it shows and how to read it
        parts.append(f"<figure id='{name}'>{_img(files[0], caption)}<figcaption>{html.escape(caption)} "
                     f"<a href='figures/{name}.svg'>Vector version (SVG)</a>.</figcaption></figure>")
        md += [f"![{caption}](figures/{name}.png)", "", f"*{caption}*", ""]
    for note in report.notes:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
        md += [note, ""]
    ui = f"The links open the MLflow UI at {ui_url(source.client.tracking_uri)} (`make ui`; another address: " \
         f"set {UI_URL_ENV}, or `make report PORT=...` to match `make ui PORT=...`)."
    parts += ["<h2>Runs in MLflow and their configs</h2>", f"<p>{html.escape(ui)}</p>"]
    md += ["## Runs in MLflow", "", ui, ""]
    for label, text in report.configs.items():
        parts.append(f"<details><summary><a href='{html.escape(links[label])}'>{html.escape(label)}</a></summary>"
                     f"<pre>{html.escape(text)}</pre></details>")
        md.append(f"- [{label}]({links[label]})")
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts))
    (out / "report.md").write_text("\n".join(md) + "\n")
    return [out / "index.html", out / "report.md", out / "metrics.csv"]


def publish(report: Report, source: Source, out: Path) -> str:
    """Log the report folder to the study's parent run, or to a run named after the report in ``reports``."""
    client: MlflowClient = source.client
    if report.study is not None and report.study.user_attrs.get("mlflow_parent_run_id"):
        run_id = report.study.user_attrs["mlflow_parent_run_id"]
    else:
        exp = client.get_experiment_by_name(REPORT_EXPERIMENT)
        if exp is None:
            exp_id = client.create_experiment(REPORT_EXPERIMENT, artifact_location=artifact_root(client.tracking_uri))
        else:
            exp_id = exp.experiment_id
        found = find_runs(client, [exp_id], {"colorgan.report": report.spec.name})
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = client.create_run(exp_id, run_name=f"report-{report.spec.name}",
                                       tags={"colorgan.report": report.spec.name}).info.run_id
            client.set_terminated(run_id, "FINISHED")
    client.log_artifacts(run_id, str(out), "report")
    return run_id

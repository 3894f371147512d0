"""``python -m colorgan.studies.dashboard [NAME] [--storage URL]``: where `make dashboard` shows a study.

optuna-dashboard serves every study of a storage (its home page, ``/dashboard``) and each at
``/dashboard/studies/<study id>``, an id only the storage knows. `make dashboard NAME=X` prints study X's page before
starting the server (and stops, in one line, when the storage holds no study X); without NAME it says that the
dashboard lists every study. Read only: no study is created.
"""

from __future__ import annotations

import argparse
import sys

import optuna
import sqlalchemy

from colorgan.base import paths
from colorgan.base.errors import exit_code
from colorgan.studies.spec import StudyError
from colorgan.studies.storage import storage_url

HOME = "/dashboard"  # optuna-dashboard 0.21's pages: its home lists every study ...
STUDY_PAGE = HOME + "/studies/{study_id}"  # ... and one study's page is at its id in the storage


def study_names(url: str) -> dict[str, int]:
    """Every study of the storage at ``url``: name -> study id (the id in its dashboard page's address)."""
    try:
        storage = optuna.storages.RDBStorage(url)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StudyError(f"the study storage {url.split('@')[-1]} cannot be read: {exc.args[0] if exc.args else exc}"
                         ) from None
    try:
        return {study.study_name: study._study_id for study in storage.get_all_studies()}
    finally:
        storage.remove_session()


def where(name: str | None, url: str, base: str) -> str:
    """The line `make dashboard` prints: study ``name``'s page on the dashboard at ``base``, or (no name) that it
    lists every study of the storage; StudyError when the storage holds no study ``name``."""
    found = study_names(url)
    shown = url.split("@")[-1]  # a server URL without its credentials
    listed = ", ".join(sorted(found)) or "none yet"
    if name is None:
        return (f"optuna-dashboard on {base}{HOME} shows every study in {shown} ({listed}); "
                "make dashboard NAME=STUDY prints one study's page")
    if name not in found:
        raise StudyError(f"no study named {name!r} in {shown} (it holds: {listed}); make study NAME={name} "
                         "starts it")
    return f"study {name}: {base}{STUDY_PAGE.format(study_id=found[name])} (every study: {base}{HOME})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.studies.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="the study (studies/NAME.toml's NAME); none: every study")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite under mlruns/)")
    parser.add_argument("--host", default="127.0.0.1", help="the dashboard's host (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="the dashboard's port (default %(default)s)")
    args = parser.parse_args(argv)

    def show() -> int:
        print(where(args.name, storage_url(args.storage, paths.repo_root()), f"http://{args.host}:{args.port}"))
        return 0

    return exit_code("make dashboard", show)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m colorgan.studies.worker STUDY_FILE --storage URL --trials N``: one worker process of a study.

``run_study(..., workers=N)`` prepares the study (Optuna study and MLflow parent run) and starts N of these on
it; each runs trials until the study holds its budget of finished ones (``trial_loop.run_worker``). Started by hand
with the same arguments, a worker joins a prepared study (the tests kill one mid-trial this way).
"""

from __future__ import annotations

import argparse
import sys

from colorgan.base import terminal
from colorgan.base.errors import exit_code
from colorgan.studies.spec import load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.studies.worker", description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study file")
    parser.add_argument("--storage", required=True, help="Optuna storage URL of the prepared study")
    parser.add_argument("--trials", type=int, required=True, help="the study's budget of finished trials")
    parser.add_argument("--epochs", type=int, help="override epochs per trial")
    parser.add_argument("--deadline", type=float, help="Unix time by which a started trial must be expected to end")
    parser.add_argument("--index", type=int, default=0,
                        help="this worker's number (without the study lock, a server storage's: 0 runs the base trial)")
    parser.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0 = all cores)")
    args = parser.parse_args(argv)

    def work() -> int:
        spec = load_spec(args.study)
        terminal.setup()  # as quiet or verbose as the command that started this worker ($COLORGAN_VERBOSE)
        from colorgan.studies import trial_loop  # Optuna and TensorFlow: only once the arguments are good

        trial_loop.run_worker(spec, args.storage, args.trials, args.epochs, args.deadline, args.index, args.threads)
        return 0

    return exit_code("colorgan worker", work)


if __name__ == "__main__":
    sys.exit(main())

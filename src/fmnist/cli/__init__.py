"""The `fmnist` command line: a thin layer over the Python API, one command per stage.

    $ fmnist data verify --data-dir ../shared/data/fashion-mnist
    $ fmnist data info --json

Errors the user can act on (fmnist.errors.FmnistError) print as one line on stderr
and exit with status 1; usage errors exit with status 2 (click's convention). The
commands live beside this file by family: data, training, models, predict, serve, runs.
"""

from __future__ import annotations

import click

from fmnist import __version__
from fmnist.cli.common import Group
from fmnist.cli.data import data, explore_command
from fmnist.cli.models import (
    convert_command,
    evaluate_command,
    export_command,
    models_command,
    verify_command,
)
from fmnist.cli.predict import predict_command
from fmnist.cli.runs import report_command, runs_command
from fmnist.cli.serve import serve_command
from fmnist.cli.teach import adapt_command
from fmnist.cli.training import run, sweep_command, train_command


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fmnist")
def main() -> None:
    """fmnist: Fashion-MNIST image classification, end to end."""


for _command in (
    data,
    explore_command,
    models_command,
    train_command,
    evaluate_command,
    convert_command,
    export_command,
    verify_command,
    predict_command,
    serve_command,
    run,
    adapt_command,
    sweep_command,
    report_command,
    runs_command,
):
    main.add_command(_command)

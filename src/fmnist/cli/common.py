"""What the commands share: the group that prints errors as one line, the quiet
TensorFlow import, and the options several commands take (defined once each)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from fmnist.errors import FmnistError, describe_os_error
from fmnist.training.config import PRECISIONS
from fmnist.training.models import DEFAULT_MODEL


class Group(click.Group):
    """A click group that turns FmnistError into a one-line error and exit status 1."""

    def format_commands(self, ctx: click.Context, formatter) -> None:
        """The command list with each command's whole first sentence, wrapped (click's own
        cuts it at the terminal's width with "...")."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, c.get_short_help_str(limit=300)) for name, c in commands if not c.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FmnistError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)  # the shell's code for SIGPIPE
        except OSError as error:  # a user's path: read-only, under a file, disk full, ...
            click.echo(f"Error: {describe_os_error(error)}", err=True)
            ctx.exit(1)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (through Keras) before a command's work starts; `fmnist` keeps its
    start-up chatter off the terminal (`fmnist._QuietTensorFlow`)."""
    import keras  # noqa: F401 - imports TensorFlow, its backend


def uses_tensorflow(command):
    """Decorator for commands that need TensorFlow: import it quietly first."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        import_tensorflow_quietly()
        return command(*args, **kwargs)

    return run


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML, YAML or JSON file of TrainConfig keys; flags override it.",
)

tensorboard_option = click.option(
    "--tensorboard",
    is_flag=True,
    default=None,
    help="Also write TensorBoard logs into RUN/tensorboard/ (view: tensorboard --logdir RUN).",
)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with the four idx files (default: $FMNIST_DATA_DIR, the cache, the Keras cache).",
)


def output_option(flag: str, default: str, help: str, folder: bool = False):
    """An option naming where a command writes (a file, or with `folder` a folder)."""
    return click.option(
        flag,
        type=click.Path(file_okay=not folder, dir_okay=folder, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A model file, or a run folder (the model it kept).",
)


def shown_option(flag: str, type, default, help: str, **more):
    """An option whose default --help shows."""
    return click.option(flag, type=type, default=default, show_default=True, help=help, **more)


trust_option = click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow loading .pkl models: unpickling runs code from the file; only for trusted files.",
)


def options(*decorators):
    """Several click options as one decorator, listed in the order --help shows them."""

    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# The TrainConfig flags of `fmnist train` and `fmnist run`: one definition for both.
training_options = options(
    click.option(
        "--model",
        help=f"A model from `fmnist models` (default: the config's, else {DEFAULT_MODEL}, the "
        "default recipe).",
    ),
    click.option(
        "--epochs",
        type=click.FloatRange(min=0, min_open=True),
        help="Maximum number of epochs (a fraction ends the last one early: 0.7).",
    ),
    click.option("--batch-size", type=click.IntRange(min=1), help="Images per step."),
    click.option(
        "--lr", "learning_rate", type=float, help="Learning rate (the peak, with a schedule)."
    ),
    config_option,
    click.option("--runs-dir", type=click.Path(file_okay=False), help="Parent of run folders."),
    click.option("--name", help="Run folder suffix (default: the model name)."),
    click.option(
        "--seed", type=int, help="Seeds everything: split, shuffling, augmentation, weights."
    ),
    click.option(
        "--validate-on-test",
        is_flag=True,
        default=None,
        help="Validate on the test set, as some tutorials do (model selection sees it).",
    ),
    tensorboard_option,
    click.option(
        "--mlflow",
        is_flag=True,
        default=None,
        help="Also track the run in MLflow: $MLFLOW_TRACKING_URI, else ./mlflow.db "
        "(view: mlflow ui). Needs the [mlflow] extra.",
    ),
    click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        help="Training arithmetic (default auto: bfloat16 on CPUs with AMX).",
    ),
    click.option(
        "--photos",
        type=click.Path(exists=True, file_okay=False),
        help="After training, learn these labelled photo folders too (photos-train's "
        "layout): the photo-ready model.",
    ),
    click.option(
        "--photo-classes",
        type=click.Path(exists=True, dir_okay=False),
        help="The photos' class mapping (TOML; default: the folder's classes.toml, else "
        "photos-train's layout).",
    ),
    data_dir_option,
)


def resolve_training_flags(config_file, data_dir, **flags):
    """The TrainConfig of a config file and the flags given (`training_options`)."""
    from fmnist.training.config import resolve_config

    return resolve_config(config_file, data_dir=str(data_dir) if data_dir else None, **flags)

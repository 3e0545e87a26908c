"""The commands on run folders: report, runs, runs compare."""

from __future__ import annotations

from pathlib import Path

import click

from fmnist.cli.common import Group


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--diagnose",
    is_flag=True,
    help="Print the run's diagnosis (the tutorials' questions answered) instead of writing "
    "the page.",
)
def report_command(run_dir: Path, diagnose: bool) -> None:
    """Rebuild a run's HTML report (diagnosis first) from its folder alone."""
    if diagnose:
        from fmnist.evaluation.diagnosis import diagnose as diagnose_run
        from fmnist.evaluation.diagnosis import format_diagnosis

        click.echo(format_diagnosis(diagnose_run(run_dir)))
        return
    from fmnist.reports.report import write_report

    path = write_report(run_dir)
    click.echo(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained)")


@click.group("runs", cls=Group, invoke_without_command=True)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path),
    default="runs",
    show_default=True,
    help="The folder whose run folders to list.",
)
@click.option("--sweeps", is_flag=True, help="Include the trials of the sweeps in it.")
@click.pass_context
def runs_command(ctx: click.Context, runs_dir: Path, sweeps: bool) -> None:
    """A leaderboard of the runs in a folder, best first (interrupted runs included); the
    photos column is the held-out photos' top-1 of a run that learned photos."""
    if ctx.invoked_subcommand is None:
        from fmnist.reports.runs import format_leaderboard, leaderboard

        click.echo(format_leaderboard(leaderboard(runs_dir, sweeps)))


@runs_command.command("compare")
@click.argument("first", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("second", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the figure (default: compare-A-B.png beside the first run).",
)
@click.option(
    "--page",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML page: figure, config changes, diagnoses (default: "
    "compare-A-B.html beside the first run).",
)
def runs_compare(first: Path, second: Path, out: Path | None, page: Path | None) -> None:
    """Two runs side by side: what changed, both diagnoses, their curves on one figure."""
    from fmnist.plots import save_figure
    from fmnist.reports.runs import (
        compare_runs,
        comparison,
        format_comparison,
        write_comparison_page,
    )

    beside = first.resolve().parent / f"compare-{first.resolve().name}-{second.resolve().name}"
    out, page = out or beside.with_suffix(".png"), page or beside.with_suffix(".html")
    found = comparison(first, second)  # both runs diagnosed once, for the terminal and page
    click.echo(format_comparison(found))
    figure = save_figure(compare_runs(first, second), out)
    click.echo(f"Wrote {figure} and {write_comparison_page(found, page, figure)}")

"""How the code is laid out: the promises a newcomer relies on, checked on the source."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_FOLDER_FILES = (
    "config.json",
    "state.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "pipeline.json",
    "report.html",
)


def source_files():
    for folder in (ROOT / "src" / "fmnist", ROOT / "bench"):
        yield from (p for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".j2"))


@pytest.mark.parametrize("name", RUN_FOLDER_FILES)
def test_each_run_folder_file_name_is_spelled_in_one_module(name):
    holders = {p.relative_to(ROOT).as_posix() for p in source_files() if name in p.read_text()}
    assert holders == {"src/fmnist/run_folder.py"}


def test_the_benchmarks_do_not_lean_on_the_command_line():
    for script in (ROOT / "bench").glob("*.py"):
        text = script.read_text()
        assert "fmnist.cli" not in text and "fmnist.pipeline import cpu_name" not in text, script


def test_the_readme_command_table_lists_every_command():
    from fmnist.cli import main

    table = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `fmnist ")
    ]
    listed = {line.split("`")[1].split()[1] for line in table}
    assert listed == set(main.commands)


def test_every_option_in_the_readme_command_table_exists():
    import re

    from fmnist.cli import main

    for line in (ROOT / "README.md").read_text().splitlines():
        if not line.startswith("| `fmnist "):
            continue
        for usage in re.findall(r"`(fmnist [^`]*)`", line.split(" | ")[0]):
            words = usage.split()
            command = main.commands[words[1]]
            if len(words) > 2 and words[2] in getattr(command, "commands", {}):
                command = command.commands[words[2]]
            options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            for option in re.findall(r"--[a-z][a-z-]*", usage):
                assert option in options, f"{usage}: {option} is not an option of the command"

"""How the code is laid out: the promises a newcomer relies on, checked on the source."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_FOLDER_FILES = (  # a run folder's, its exploration's and predictions', a sweep folder's
    "config.json",
    "state.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "pipeline.json",
    "report.html",
    "training_curves.png",
    '"photos.json"',
    "photos_held_out.png",
    "stats.json",
    "examples_{",
    "_{split}.",
    '"first_images"',
    '"embedding"',
    "grid.png",
    "_{kind}.png",
    "sweep.json",
    "summary.json",
    "leaderboard.csv",
    "best.toml",
    "parameters.png",
    '"trial-"',
)
# The capability folders in the order data flows through them; the shared pieces first.
ROOMS = (
    ("errors", "terminal", "machine", "images", "cache", "__init__"),
    ("inference",),
    ("run_folder", "artifacts", "plots", "ray_runtime"),
    ("tracking",),
    ("data",),
    ("photos",),
    ("training",),
    ("evaluation",),
    ("predict",),
    ("reports",),
    ("stages",),
    ("serving", "sweeps"),
    ("pipeline",),
    ("cli", "__main__"),
)


FOLDERS = (  # the rooms that are capability folders (the rest are modules beside them)
    "inference", "run_folder", "tracking", "data", "photos", "training", "evaluation",
    "predict", "reports", "serving", "sweeps", "cli",
)  # fmt: skip


def source_files():
    for folder in (ROOT / "src" / "fmnist", ROOT / "bench"):
        yield from (p for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".j2"))


def is_module(name: str) -> bool:
    path = ROOT / "src" / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def fmnist_imports():
    """(importing module, imported module) for every import of fmnist inside fmnist."""
    import ast

    src = ROOT / "src"
    for path in (src / "fmnist").rglob("*.py"):
        module = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fmnist"):
                # `from fmnist.data import idx` imports the module fmnist.data.idx
                named = [f"{node.module}.{a.name}" for a in node.names]
                submodules = [m for m in named if is_module(m)]
                yield from ((module, target) for target in submodules or [node.module])
            elif isinstance(node, ast.Import):
                yield from ((module, a.name) for a in node.names if a.name.startswith("fmnist"))


def room_rank(module: str) -> int:
    room = module.split(".")[1] if "." in module else "__init__"
    room = "__init__" if room == "__version__" else room
    return next(rank for rank, names in enumerate(ROOMS) if room in names)


def test_imports_flow_one_way_between_the_capability_folders():
    back = sorted(f"{a} -> {b}" for a, b in fmnist_imports() if room_rank(b) > room_rank(a))
    assert not back, back


def test_no_module_imports_itself_round_a_cycle():
    graph: dict[str, set] = {}
    for a, b in fmnist_imports():
        graph.setdefault(a, set()).add(b)

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    cycles = [m for m in graph if reaches(m, m, set())]
    assert not cycles, cycles


def test_every_room_is_a_folder_and_every_module_has_a_room():
    src = ROOT / "src" / "fmnist"
    for path in src.rglob("*.py"):
        module = ".".join(path.relative_to(src.parent).with_suffix("").parts)
        room_rank(module.removesuffix(".__init__"))  # raises StopIteration when roomless
    for name in FOLDERS:
        assert (src / name / "__init__.py").is_file(), name


def test_no_module_is_over_400_lines():
    long = {
        p.relative_to(ROOT).as_posix(): n
        for p in (ROOT / "src").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


@pytest.mark.parametrize("name", RUN_FOLDER_FILES)
def test_each_run_folder_file_name_is_spelled_in_one_module(name):
    holders = {p.relative_to(ROOT).as_posix() for p in source_files() if name in p.read_text()}
    assert holders and all(h.startswith("src/fmnist/run_folder/") for h in holders), holders


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
            for word in words[2:]:  # down through the groups: fmnist data photos download
                if word not in getattr(command, "commands", {}):
                    break
                command = command.commands[word]
            options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            for option in re.findall(r"--[a-z][a-z-]*", usage):
                assert option in options, f"{usage}: {option} is not an option of the command"

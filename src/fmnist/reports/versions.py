"""The report's Versions section: each version of the run's model, what it learned, and
what each correction round (`fmnist adapt`) changed, per folder, with the photos it fixed.

    >>> from fmnist.run_folder import ModelVersion, Versions
    >>> first = ModelVersion(version=1, file="v1.keras", learned="training", fmnist_test=0.9335)
    >>> rows = version_rows(Versions(versions=[first]))
    >>> rows[0][:2], rows[0][-2]
    ([1, 'training'], '93.35%')
"""

from __future__ import annotations

from fmnist.images import png_data_url
from fmnist.run_folder import Run, Versions


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def change(before, after) -> str:
    """Two figures as "before -> after" ("-" where neither is known)."""
    if before is None and after is None:
        return "-"
    return f"{percent(before)} -> {percent(after)}" if before is not None else percent(after)


def version_rows(versions: Versions) -> list[list]:
    """A row a version: what it learned, from how many new photos, and its figures."""
    return [
        [v.version, v.learned, ", ".join(v.photos) or "-", v.new_photos or "-",
         change(v.new_before, v.new_after),
         change(v.earlier_held_out_before, v.earlier_held_out),
         change(v.fmnist_test_before, v.fmnist_test),
         f"{v.seconds:.0f} s" if v.seconds else "-"]
        for v in versions.versions
    ]  # fmt: skip


def versions_context(run: Run) -> dict | None:
    """The versions table, and for each correction round its folders and fixed photos."""
    versions = run.versions
    if len(versions.versions) < 2:
        return None
    rounds = []
    for version in versions.versions[1:]:
        figure = run.folder.version_figure(version.version)
        rounds.append({
            "version": version.version,
            "folders": [[name, percent(a), percent(b)]
                        for name, (a, b) in version.per_folder.items()],
            "fixed": len(version.fixed),
            "broken": [[c.file, c.before, c.after] for c in version.broken],
            "picture": {"src": png_data_url(figure.read_bytes()) if figure.is_file() else None,
                        "alt": f"Photos version {version.version} fixed"},
        })  # fmt: skip
    return {"rows": version_rows(versions), "rounds": rounds, "current": versions.current.version}

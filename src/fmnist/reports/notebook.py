"""fmnist in a notebook: a run, its evaluation, its diagnosis and its report that show
themselves as readable HTML when they end a cell.

    >>> run = Run(train(resolve_config(model="cnn", epochs=1)))
    >>> run                         # its headline, diagnosis and training curves
    >>> run.evaluation("test")      # accuracy, the weak classes, the confusion matrix
    >>> run.diagnosis               # every question the report answers, with evidence
    >>> run.report()                # the whole report page, inline

Each reads the run folder alone (`fmnist.run_folder`), as the report does; an answer
(`fmnist.predict.Answer`) shows itself the same way. Outside a notebook they print as text.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fmnist.evaluation.diagnosis import diagnose, format_diagnosis
from fmnist.evaluation.findings import MARKS
from fmnist.images import png_data_url
from fmnist.reports.report import inline_code
from fmnist.reports.runs import format_run_summary
from fmnist.run_folder import RunFolder, evaluation_of

STYLE = "font-family: system-ui, sans-serif; max-width: 60rem"
COLOURS = {"ok": "#2e7d32", "attention": "#b26a00", "unknown": "#666"}


def picture(path: Path, alt: str, width: str = "100%") -> str:
    """An <img> carrying the PNG file itself (a notebook keeps no links to files)."""
    if not Path(path).is_file():
        return ""
    url = png_data_url(Path(path).read_bytes())
    return f'<img src="{url}" alt="{escape(alt)}" style="max-width: {width}; height: auto">'


class Diagnosis(list):
    """The run's findings (`fmnist.evaluation.diagnosis`): a list of dicts that shows itself."""

    def __str__(self) -> str:
        return format_diagnosis(self)

    def _repr_html_(self) -> str:
        rows = []
        for f in self:
            colour = COLOURS.get(f["verdict"], "#666")
            more = " ".join(
                f"<br><small>{label}: {inline_code(f[key])}</small>"
                for key, label in (("evidence", "evidence"), ("suggestion", "next"))
                if f.get(key)
            )
            rows.append(
                f'<tr><td style="color: {colour}">{escape(MARKS[f["verdict"]])}</td>'
                f"<td><b>{escape(f['question'])}</b> {inline_code(f['answer'])}{more}</td></tr>"
            )
        return f'<table style="{STYLE}">{"".join(rows)}</table>'


class Evaluation:
    """One split's evaluation of a run: accuracy, loss, the weakest classes, the confusion."""

    def __init__(self, run: RunFolder, split: str):
        self.run, self.split = run, split
        self.metrics = evaluation_of(run.read_metrics(), split)

    def __repr__(self) -> str:
        if not self.metrics:
            return f"{self.run.path.name}: no {self.split} evaluation"
        m = self.metrics
        return f"{self.split}: accuracy {m['accuracy']:.4f}, loss {m['loss']:.4f}"

    def _repr_html_(self) -> str:
        if not self.metrics:
            return f"<p>{escape(repr(self))}</p>"
        m = self.metrics
        weakest = sorted(m.get("per_class", {}).items(), key=lambda item: item[1]["f1"])[:3]
        classes = "".join(
            f"<tr><td>{escape(name)}</td><td>{v['precision']:.1%}</td><td>{v['recall']:.1%}</td>"
            f"<td>{v['f1']:.1%}</td></tr>"
            for name, v in weakest
        )
        return (
            f'<div style="{STYLE}"><h4>{escape(self.split)}: {m["accuracy"]:.2%} accuracy '
            f"({m['images']:,} images, loss {m['loss']:.4f})</h4>"
            "<p>The weakest classes:</p><table><tr><th>class</th><th>precision</th>"
            f"<th>recall</th><th>F1</th></tr>{classes}</table>"
            f"{picture(self.run.evaluation_figure('confusion_matrix', self.split), 'confusion')}"
            f"{picture(self.run.evaluation_figure('misclassified', self.split), 'mistakes')}"
            "</div>"
        )


class Report:
    """A run's report page, shown inline (in a frame of its own, styles and all)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Report({str(self.path)!r})"

    def _repr_html_(self) -> str:
        page = escape(self.path.read_text(), quote=True)
        return f'<iframe srcdoc="{page}" style="width: 100%; height: 48rem; border: 0"></iframe>'


class Run:
    """A run folder as a notebook shows it: `run` alone in a cell gives its headline, its
    diagnosis and its training curves."""

    def __init__(self, path: Path | str):
        self.folder = RunFolder(path)

    @property
    def path(self) -> Path:
        return self.folder.path

    def __repr__(self) -> str:
        return format_run_summary(self.path)

    @property
    def diagnosis(self) -> Diagnosis:
        return Diagnosis(diagnose(self.path))

    def evaluation(self, split: str = "test") -> Evaluation:
        return Evaluation(self.folder, split)

    def report(self) -> Report:
        """The report page (written first when the run has none yet)."""
        from fmnist.reports.report import write_report

        if not self.folder.report_path.is_file():
            write_report(self.path)
        return Report(self.folder.report_path)

    def _repr_html_(self) -> str:
        summary = escape(format_run_summary(self.path)).replace("\n", "<br>")
        return (
            f'<div style="{STYLE}"><h3>{escape(self.path.name)}</h3><p>{summary}</p>'
            f"{self.diagnosis._repr_html_()}"
            f"{picture(self.folder.curves_path, 'training curves')}</div>"
        )

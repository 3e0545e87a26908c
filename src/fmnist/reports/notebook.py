"""fmnist in a notebook: a run, its evaluation, its diagnosis and its report that show
themselves as readable HTML when they end a cell.

    >>> run = Run(train(resolve_config(model="cnn", epochs=1)))  # doctest: +SKIP
    >>> run  # its headline, diagnosis and training curves  # doctest: +SKIP
    >>> run.evaluation("test")  # accuracy, the weak classes, the confusion matrix  # doctest: +SKIP
    >>> run.diagnosis  # every question the report answers, with evidence  # doctest: +SKIP
    >>> run.report()  # the whole report page, inline  # doctest: +SKIP

Each reads the run's typed records (`fmnist.run_folder.Run`), as the report does, and
renders through the report's Jinja2 templates (`templates/notebook.j2`); an answer
(`fmnist.predict.Answer`) shows itself too. Outside a notebook they print as text.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fmnist.evaluation.diagnosis import diagnose, format_diagnosis
from fmnist.evaluation.findings import MARKS
from fmnist.images import png_data_url
from fmnist.reports.report import template
from fmnist.reports.runs import format_run_summary
from fmnist.run_folder import Run as RunRecords


def data_url(path: Path) -> str | None:
    """A PNG file as a data URL (a notebook keeps no links to files), None without one."""
    return png_data_url(Path(path).read_bytes()) if Path(path).is_file() else None


def render(kind: str, **context) -> str:
    return template("notebook.j2").render(kind=kind, marks=MARKS, **context)


class Diagnosis(list):
    """The run's findings (`fmnist.evaluation.diagnosis`): a list of dicts that shows itself."""

    def __str__(self) -> str:
        return format_diagnosis(self)

    def _repr_html_(self) -> str:
        return render("diagnosis", findings=self)


class Evaluation:
    """One split's evaluation of a run: accuracy, loss, the weakest classes, the confusion."""

    def __init__(self, run: RunRecords, split: str):
        self.run, self.split = run, split
        self.metrics = run.metrics.split(split)

    def __repr__(self) -> str:
        if self.metrics is None:
            return f"{self.run.path.name}: no {self.split} evaluation"
        return f"{self.split}: accuracy {self.metrics.accuracy:.4f}, loss {self.metrics.loss:.4f}"

    def _repr_html_(self) -> str:
        if self.metrics is None:
            return f"<p>{escape(repr(self))}</p>"
        folder = self.run.folder
        weakest = sorted(self.metrics.per_class.items(), key=lambda item: item[1].f1)[:3]
        return render(
            "evaluation",
            split=self.split,
            evaluation=self.metrics,
            weakest=weakest,
            confusion=data_url(folder.evaluation_figure("confusion_matrix", self.split)),
            mistakes=data_url(folder.evaluation_figure("misclassified", self.split)),
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
        self.records = RunRecords.load(path)

    @property
    def path(self) -> Path:
        return self.records.path

    @property
    def folder(self):
        """Its files (`fmnist.run_folder.RunFolder`): the model, the figures, the report."""
        return self.records.folder

    def __repr__(self) -> str:
        return format_run_summary(self.records)

    @property
    def diagnosis(self) -> Diagnosis:
        return Diagnosis(diagnose(self.records))

    def evaluation(self, split: str = "test") -> Evaluation:
        return Evaluation(self.records, split)

    def report(self) -> Report:
        """The report page (written first when the run has none yet)."""
        from fmnist.reports.report import write_report

        folder = self.records.folder
        if not folder.report_path.is_file():
            write_report(self.records)
        return Report(folder.report_path)

    def _repr_html_(self) -> str:
        return render(
            "run",
            name=self.path.name,
            summary=format_run_summary(self.records).strip().splitlines(),
            findings=self.diagnosis,
            curves=data_url(self.records.folder.curves_path),
        )

"""Every figure function returns a Figure with the panels it promises; saving is atomic."""

import numpy as np
from matplotlib.figure import Figure

from fmnist import plots
from fmnist.data import CLASS_NAMES
from fmnist.run_folder import Curves


def test_training_curves_have_a_rate_panel_when_a_rate_was_recorded():
    curves = Curves(loss=[0.6, 0.4], accuracy=[0.8, 0.9], val_accuracy=[0.8, 0.85])
    assert len(plots.training_curves(curves).axes) == 2
    with_rate = curves.model_copy(update={"learning_rate": [0.01, 0.001]})
    figure = plots.training_curves(with_rate, stacked=True)
    assert len(figure.axes) == 3 and figure.axes[2].get_title().startswith("Learning rate")


def test_smoothed_runs_show_plain_cross_entropy_beside_the_trained_loss():
    curves = Curves(loss=[0.9, 0.8], crossentropy=[0.5, 0.3], accuracy=[0.8, 0.9])
    loss_panel = plots.training_curves(curves, label_smoothing=0.1).axes[1]
    assert loss_panel.get_title() == "Cross-entropy"
    labels = [line.get_label() for line in loss_panel.get_lines()]
    assert "training loss, labels smoothed by 0.1" in labels


def test_the_confusion_matrix_and_the_grids():
    confusion = np.diag(np.full(10, 90)) + 1
    figure = plots.confusion_matrix_figure(confusion, CLASS_NAMES)
    assert isinstance(figure, Figure) and figure.axes[0].get_xticklabels()[0].get_text()
    images = np.zeros((3, 28, 28), np.uint8)
    grid = plots.image_grid(images, ["a", "b", "c"], [plots.RIGHT_COLOR] * 3)
    assert sum(ax.has_data() or bool(ax.images) for ax in grid.axes) >= 3


def test_the_risk_coverage_curve_marks_the_threshold():
    points = [[1.0, 0.8, 0.1], [0.7, 0.95, 0.8], [0.5, 0.98, 0.9]]
    axis = plots.risk_coverage_figure(points, threshold_coverage=0.7).axes[0]
    xs = axis.get_lines()[0].get_xdata()
    assert list(xs) == [100.0, 70.0, 50.0] and axis.xaxis_inverted()
    assert any(line.get_label() == 'its "not sure" threshold' for line in axis.get_lines())


def test_a_figure_is_saved_whole_or_not_at_all(tmp_path):
    path = plots.save_figure(plots.risk_coverage_figure([[1.0, 0.8, 0.1]]), tmp_path / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*tmp*"))

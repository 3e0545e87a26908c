"""fmnist: Fashion-MNIST image classification, end to end.

>>> from fmnist.data import load_dataset
>>> data = load_dataset(data_dir="../shared/data/fashion-mnist")
>>> data.train_images.shape
(60000, 28, 28)

The capabilities are folders, in the order data flows through them: `data`, `photos`,
`training`, `evaluation`, `predict`, `reports`, `serving`, `sweeps`; the pieces they share
(`run_folder`, `artifacts`, `plots`, `images`, `errors`, `terminal`, `machine`) sit here,
and `pipeline` and `cli` on top. README.md's "Where things are" maps them.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__version__ = "0.2.0"

# Modules that moved into the capability folders in 0.2.0: importing the old name still
# works, with a DeprecationWarning naming the new one.
MOVED_MODULES = {
    "fmnist.download": "fmnist.data.download",
    "fmnist.idx": "fmnist.data.idx",
    "fmnist.explore": "fmnist.data.explore",
    "fmnist.models": "fmnist.training.models",
    "fmnist.config": "fmnist.training.config",
    "fmnist.train": "fmnist.training.train",
    "fmnist.callbacks": "fmnist.training.callbacks",
    "fmnist.augment": "fmnist.training.augment",
    "fmnist.evaluate": "fmnist.evaluation.evaluate",
    "fmnist.diagnosis": "fmnist.evaluation.diagnosis",
    "fmnist.confusion_explorer": "fmnist.reports.confusion_explorer",
    "fmnist.report": "fmnist.reports.report",
    "fmnist.runs": "fmnist.reports.runs",
    "fmnist.garment_segmentation": "fmnist.photos.segmentation",
    "fmnist.photo_augment": "fmnist.photos.augment",
    "fmnist.photo_scoring": "fmnist.photos.scoring",
    "fmnist.unsure": "fmnist.photos.unsure",
    "fmnist.step_images": "fmnist.photos.step_images",
    "fmnist.saliency": "fmnist.predict.saliency",
    "fmnist.serve": "fmnist.serving.app",
    "fmnist.service_requests": "fmnist.serving.requests",
    "fmnist.service_metrics": "fmnist.serving.metrics",
    "fmnist.service_docs": "fmnist.serving.docs",
    "fmnist.service_http": "fmnist.serving.http",
    "fmnist.request_batcher": "fmnist.serving.batcher",
    "fmnist.sweep": "fmnist.sweeps.runner",
    "fmnist.sweep_file": "fmnist.sweeps.spec",
    "fmnist.sweep_trial": "fmnist.sweeps.trial",
    "fmnist.sweep_results": "fmnist.sweeps.results",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers `import fmnist.<old name>` with a module that forwards to the new one."""

    def find_spec(self, name, path=None, target=None):
        if name not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        new = MOVED_MODULES[module.__name__]
        warnings.warn(
            f"{module.__name__} is now {new}; import from there",
            DeprecationWarning,
            stacklevel=3,
        )
        target = importlib.import_module(new)
        module.__getattr__ = lambda attribute: getattr(target, attribute)
        module.__dir__ = lambda: dir(target)
        module.__doc__ = target.__doc__


sys.meta_path.append(_MovedModules())

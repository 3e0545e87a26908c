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
import os
import sys
import tempfile
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


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """TensorFlow, when something in fmnist first imports it, imported without its C++
    start-up chatter (absl and oneDNN notices, printed to the process's stderr before any
    log level applies): a terminal, a log or a notebook cell shows fmnist's own lines. Its
    later C++ log lines keep to errors that stop it (TF_CPP_MIN_LOG_LEVEL, unless set).
    What it printed is replayed when the import fails."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders take it from here
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            except BaseException:
                os.dup2(saved, 2)
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)


if "tensorflow" not in sys.modules:
    sys.meta_path.insert(0, _QuietTensorFlow())

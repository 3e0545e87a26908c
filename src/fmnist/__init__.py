"""fmnist: Fashion-MNIST image classification, end to end.

>>> from fmnist.data import load_dataset  # doctest: +SKIP
>>> data = load_dataset(data_dir="../shared/data/fashion-mnist")  # doctest: +SKIP
>>> data.train_images.shape  # doctest: +SKIP
(60000, 28, 28)

The capabilities are folders, in the order data flows through them: `inference`, `data`,
`photos`, `training`, `evaluation`, `predict`, `reports`, `serving`, `sweeps`; the pieces
they share (`run_folder`, `artifacts`, `plots`, `images`, `errors`, `terminal`, `machine`)
sit here, and `pipeline` and `cli` on top. README.md's "Where things are" maps them.
"""

import importlib.abc
import importlib.util
import os
import sys
import tempfile

__version__ = "0.2.0"


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

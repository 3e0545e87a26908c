"""fmnist: Fashion-MNIST image classification, end to end.

>>> from fmnist.data import load_dataset
>>> data = load_dataset(data_dir="../shared/data/fashion-mnist")
>>> data.train_images.shape
(60000, 28, 28)
"""

__version__ = "0.1.0"

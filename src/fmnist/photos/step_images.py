"""A saliency map drawn over the 28 x 28 input for a web page, with Pillow alone (no
Matplotlib, which costs a service more than its answer does).

    >>> data_url(heat_overlay(answer.image, heat))  # fmnist.images.data_url  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PAGE_SIZE = 168  # the 28 x 28 images drawn at 6x, as the page shows the input


def heat_overlay(pixels: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The 28 x 28 input in gray with the saliency in red and yellow over it, at PAGE_SIZE."""
    gray = np.asarray(pixels, dtype=np.float32).reshape(28, 28) / 255
    heat = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    rgb = np.stack([gray * 0.5 + heat * 0.9, gray * 0.5 + heat**2 * 0.8, gray * 0.5], axis=-1)
    rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize((PAGE_SIZE, PAGE_SIZE), Image.Resampling.NEAREST))

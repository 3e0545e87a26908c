"""A photo's steps as small images for a web page: PNG data URLs, built with Pillow and
OpenCV (no Matplotlib, which costs a service more than the answer does).

    >>> data_url(outlined(steps.original, steps.mask))     # "data:image/png;base64,..."
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

OUTLINE = (178, 34, 34)  # the reports' red
PAGE_SIZE = 168  # the 28 x 28 images drawn at 6x, as the page shows the input


def data_url(pixels: np.ndarray) -> str:
    """An RGB or grayscale uint8 array as a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def outlined(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The photo with the garment's outline drawn in red (unchanged without a mask)."""
    import cv2

    if mask is None:
        return rgb
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    out = np.ascontiguousarray(rgb).copy()
    cv2.drawContours(out, contours, -1, OUTLINE, max(1, max(rgb.shape[:2]) // 128))
    return out


def heat_overlay(pixels: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The 28 x 28 input in gray with the saliency in red and yellow over it, at PAGE_SIZE."""
    gray = np.asarray(pixels, dtype=np.float32).reshape(28, 28) / 255
    heat = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    rgb = np.stack([gray * 0.5 + heat * 0.9, gray * 0.5 + heat**2 * 0.8, gray * 0.5], axis=-1)
    rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize((PAGE_SIZE, PAGE_SIZE), Image.Resampling.NEAREST))

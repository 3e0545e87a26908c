"""Small images for pages: PNG data URLs and a mask's outline, with Pillow and OpenCV (no
Matplotlib, which costs a service more than its answer does).

    >>> data_url(pixels)                           # "data:image/png;base64,..."
    >>> data_url(outlined(photo_rgb, garment_mask))
"""

from __future__ import annotations

import base64
import io

import numpy as np

OUTLINE = (178, 34, 34)  # the reports' red


def png_data_url(png: bytes) -> str:
    """PNG bytes as a data URL, for an <img> with no file or network behind it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def data_url(pixels: np.ndarray, optimize: bool = False) -> str:
    """An RGB or grayscale uint8 array as a PNG data URL."""
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    image.save(buffer, "PNG", optimize=optimize)
    return png_data_url(buffer.getvalue())


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

"""Images in and out: the photo formats fmnist reads (one table, one pixel limit), and small
images for pages: PNG data URLs and a mask's outline, with Pillow and OpenCV (no
Matplotlib, which costs a service more than its answer does).

    >>> import numpy as np
    >>> data_url(np.zeros((2, 2), np.uint8))[:22]
    'data:image/png;base64,'
    >>> PHOTO_SUFFIXES, CONTENT_TYPES["image/webp"]
    (('.jpg', '.jpeg', '.png', '.webp'), 'WEBP')
"""

from __future__ import annotations

import base64
import io

import numpy as np

OUTLINE = (178, 34, 34)  # the reports' red

# The photo formats fmnist reads, by Pillow's name: their file suffixes and content type.
# Pillow reads a phone's JPEG with a depth map attached as MPO: read as the JPEG it is.
PHOTO_FORMATS = {
    "JPEG": ((".jpg", ".jpeg"), "image/jpeg"),
    "PNG": ((".png",), "image/png"),
    "WEBP": ((".webp",), "image/webp"),
}
READ_AS = {"MPO": "JPEG"}  # Pillow's other names for them
PHOTO_SUFFIXES = tuple(suffix for suffixes, _ in PHOTO_FORMATS.values() for suffix in suffixes)
CONTENT_TYPES = {content: name for name, (_, content) in PHOTO_FORMATS.items()}
FORMAT_NAMES = "PNG, JPEG or WebP"
# A photo's pixels, checked before decoding (decompression bombs): a 40-megapixel phone photo
# passes; `fmnist predict` and the service both hold to it (the service's flag can lower it).
MAX_PIXELS = 40_000_000


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

"""Find the garment in a photo before the Zalando steps: GrabCut (OpenCV, no downloaded
weights) from a central rectangle, the largest piece kept, the rest made white.

    >>> image, how = isolate_garment(photo)      # a PIL image; how: "grabcut" or why not
    >>> pixels = prepare_photo(image)            # then trimmed, resized, negated as before

Zalando's trim assumes a product shot on white: on a carpet or a bed the "article" becomes
the whole picture. GrabCut models the colours inside a central rectangle against those
outside it and cuts along the edges between them. Where it finds nothing plausible (under
2% or over 90% of the photo), the photo goes on as it was and `how` says so.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WORKING_SIZE = 128  # GrabCut's cost grows with the pixels: a garment needs no more
MARGIN = 0.06  # the rectangle GrabCut starts from leaves this share of each side out
ITERATIONS = 3
PLAUSIBLE = (0.02, 0.9)  # share of the photo a garment found may cover


def garment_mask(rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A boolean mask of the garment in an RGB uint8 array, or None and the reason."""
    import cv2

    height, width = rgb.shape[:2]
    if min(height, width) < 16:
        return None, "too small to segment"
    mask = np.zeros((height, width), np.uint8)
    x, y = int(MARGIN * width), int(MARGIN * height)
    rectangle = (x, y, width - 2 * x, height - 2 * y)
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # the same photo, the same cut
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    cv2.grabCut(bgr, mask, rectangle, background, foreground, ITERATIONS, cv2.GC_INIT_WITH_RECT)
    found = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    if count <= 1:
        return None, "no garment found"
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    garment = labels == largest
    share = float(garment.mean())
    if not PLAUSIBLE[0] <= share <= PLAUSIBLE[1]:
        return None, f"segmentation implausible ({share:.0%} of the photo)"
    return garment, "grabcut"


def isolate_garment(image: Image.Image) -> tuple[Image.Image, str]:
    """The photo with everything but the garment white, cropped to it; or the photo as it
    was, with the reason, where segmentation found nothing plausible."""
    rgb = image.convert("RGB")
    scale = WORKING_SIZE / max(rgb.size)
    small = (
        rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
            Image.Resampling.BILINEAR,
        )
        if scale < 1
        else rgb
    )
    pixels = np.asarray(small)
    garment, how = garment_mask(pixels)
    if garment is None:
        return image, f"fallback to trimming: {how}"
    rows, cols = np.flatnonzero(garment.any(axis=1)), np.flatnonzero(garment.any(axis=0))
    isolated = np.where(garment[..., None], pixels, 255).astype(np.uint8)
    crop = isolated[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Image.fromarray(crop), how

"""Find the garment in a photo before the Zalando steps: GrabCut (OpenCV, no downloaded
weights) from a central rectangle, the largest piece kept, the rest made plain.

    >>> article, mask, how = isolate_garment(rgb)  # how: "grabcut" or why not  # doctest: +SKIP
    >>> pixels, _ = zalando_steps(article)  # doctest: +SKIP

Zalando's trim assumes a product shot on white: on a carpet or a bed the "article" becomes
the whole picture. GrabCut models the colours inside a central rectangle against those
outside it and cuts along the edges between them. The ground around the cut-out becomes
white, as on Zalando's product shots (black where it is black already). Where it finds nothing
plausible (under 2% or over 90% of the photo), the photo goes on as it was and `how` says
so.
"""

from __future__ import annotations

import numpy as np

# GrabCut's cost grows with the pixels and the rounds. On photos-train with the default
# model (`python bench/photos.py --photos ../shared/photos-train --grabcut-size S
# --grabcut-iterations N`): 80 pixels and 2 rounds, top-1 52.0% and top-3 79.1% at 8.3 ms a
# photo; 96 and 3, 52.0% and 79.4% at 13.6 ms. Earlier, 128 (26 ms) found garments no better
# than 96, and 64 lost 3 points of top-1.
WORKING_SIZE = 80
MARGIN = 0.06  # the rectangle GrabCut starts from leaves this share of each side out
ITERATIONS = 2
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


BLACK_GROUND = 40  # mean level under which a photo's ground counts as black


def ground_fill(rgb: np.ndarray, mask: np.ndarray) -> int:
    """What the ground becomes around a cut-out garment: white (255), so that the steps
    negate the garment as Zalando's product shots were negated (a white shirt comes out
    dim, a dark one light, whatever the floor it lay on); black (0) only where the ground
    is black already, an image made light-on-dark as Fashion-MNIST's own, kept as it is.
    (Following the floor instead, dark floors kept unnegated: photos-dev top-1 53.4% ->
    49.7%.)"""
    return 0 if float(rgb[~mask].mean()) < BLACK_GROUND else 255


def isolate_garment(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(article, mask, how): the photo (RGB uint8) cropped to the garment with everything
    else one plain colour (`ground_fill`), and the garment's mask in the photo; or the
    photo as it was, None and the reason, where segmentation found nothing plausible."""
    import cv2

    height, width = rgb.shape[:2]
    scale = WORKING_SIZE / max(height, width)
    small = rgb
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    garment, how = garment_mask(small)
    if garment is None:
        return rgb, None, f"fallback to trimming: {how}"
    if small is not rgb:  # the mask at the photo's own size, for a sharp cut-out
        garment = cv2.resize(garment.astype(np.uint8), (width, height)) > 0
    rows, cols = np.flatnonzero(garment.any(axis=1)), np.flatnonzero(garment.any(axis=0))
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    fill = np.uint8(ground_fill(rgb, garment))
    article = np.where(garment[box][..., None], rgb[box], fill)
    return article, garment, how

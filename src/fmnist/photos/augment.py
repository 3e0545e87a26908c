"""Photo-style augmentation: Fashion-MNIST images made to look like phone photos after
`fmnist.predict.predictor`'s steps, so that the model trained on them also answers for people's own
photos.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = np.zeros((8, 28, 28), np.uint8)
    >>> images[:, 6:22, 9:19] = 200                   # a bright article on a dark ground
    >>> photo_style(images, rng, share=0.5).shape     # uint8 (N, 28, 28) in and out
    (8, 28, 28)

A product shot on white becomes a clean silhouette; a garment photographed on a bed or a
floor arrives lit unevenly, creased, seen at an angle, through a mask that misses an edge
or keeps some background. Each image chosen (`share` of them) gets a random mix of those:

- geometry: rotation up to 15 degrees, a scale and an aspect change (a garment laid flat
  and photographed from above is wider or narrower than on a model), a small shear;
- light: gamma and contrast, a brightness gradient across the garment, creases (smooth
  random shading), sensor noise, blur;
- the mask: a ragged edge (pixels of the outline dropped), a band of textured background
  left at one side.

The draws come from `rng` alone, so a batch is the same for the same seed. OpenCV does the
per-image geometry and blur (about 2 ms for 128 images); the rest is NumPy on the batch.
"""

from __future__ import annotations

import numpy as np

SIZE = 28


def _affine(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2, 3) random maps from a 28 x 28 image into the middle of a 2x canvas: a
    rotation up to 12 degrees, a small shear, and a width change that favours wider (a
    garment laid flat spreads its sleeves and legs; Fashion-MNIST's stand upright)."""
    angle = np.deg2rad(rng.uniform(-12, 12, n))
    widen = np.exp(rng.uniform(-0.1, 0.5, n))
    shear = rng.uniform(-0.1, 0.1, n)
    cos, sin = np.cos(angle), np.sin(angle)
    # rotation @ shear @ widening
    a = np.stack([[cos * widen, cos * shear - sin], [sin * widen, sin * shear + cos]])
    a = a.transpose(2, 0, 1)  # (n, 2, 2)
    centre = np.array([(SIZE - 1) / 2, (SIZE - 1) / 2])
    offset = (2 * SIZE - 1) / 2 - a @ centre  # the image's centre to the canvas's
    return np.concatenate([a, offset[:, :, None]], axis=2)


def _refit(canvas: np.ndarray) -> np.ndarray:
    """The pixels of a large canvas framed as the photo steps frame an article: trimmed to
    what is not background, the long edge resized to 28, centred."""
    import cv2

    rows, cols = np.flatnonzero(canvas.max(axis=1) > 8), np.flatnonzero(canvas.max(axis=0) > 8)
    if len(rows) == 0:
        return np.zeros((SIZE, SIZE), np.float32)
    article = canvas[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = article.shape
    scale = SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    article = cv2.resize(article, size, interpolation=cv2.INTER_AREA)
    out = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - size[1]) // 2, (SIZE - size[0]) // 2
    out[top : top + size[1], left : left + size[0]] = article
    return out


def _smooth_field(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """(n, 28, 28) smooth random values in [-1, 1]: a coarse random grid, upsampled."""
    import cv2

    coarse = rng.uniform(-1, 1, (n, cells, cells)).astype(np.float32)
    return np.stack([cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC) for c in coarse])


def photo_like(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every image of a uint8 (n, 28, 28) batch made photo-like (see the module's text)."""
    import cv2

    n = len(images)
    if n == 0:
        return images
    maps = _affine(rng, n)
    blur = rng.random(n) < 0.4
    sigma = rng.uniform(0.4, 0.9, n)
    out = np.empty((n, SIZE, SIZE), np.float32)
    for i in range(n):
        warped = _refit(
            cv2.warpAffine(
                images[i].astype(np.float32),
                maps[i],
                (2 * SIZE, 2 * SIZE),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
        )
        out[i] = cv2.GaussianBlur(warped, (0, 0), sigma[i]) if blur[i] else warped
    garment = out > 8  # the silhouette, before the light changes
    x = out / 255.0

    # light: gamma and contrast, a gradient across the garment, creases
    x = x ** np.exp(rng.uniform(-0.5, 0.5, (n, 1, 1)))
    x *= rng.uniform(0.6, 1.1, (n, 1, 1))
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    direction = rng.uniform(0, 2 * np.pi, n)
    gradient = np.cos(direction)[:, None, None] * xs + np.sin(direction)[:, None, None] * ys
    x *= 1 + rng.uniform(0, 0.6, (n, 1, 1)) * gradient
    creases = rng.random(n) < 0.6
    x *= 1 + (creases * rng.uniform(0.1, 0.35, n))[:, None, None] * _smooth_field(rng, n, 6)

    # the mask: a ragged outline, and a band of background left at one side
    ragged = (rng.random(n) < 0.4)[:, None, None]
    eroded = np.stack([cv2.erode(g.astype(np.uint8), np.ones((3, 3), np.uint8)) for g in garment])
    edge = garment & ~eroded.astype(bool)
    drop = ragged & edge & (rng.random((n, SIZE, SIZE)) < 0.5)
    x = np.where(drop, 0, x)
    band = rng.random(n) < 0.25
    width = rng.integers(1, 5, n)
    side = rng.integers(0, 4, n)
    # distance from the chosen side (top, bottom, left, right), under `width`: the band
    row, col = np.arange(SIZE)[None, :, None], np.arange(SIZE)[None, None, :]
    inward = np.choose(side[:, None, None], [row, SIZE - 1 - row, col, SIZE - 1 - col])
    masks = band[:, None, None] & (inward < width[:, None, None])
    level = rng.uniform(0.1, 0.5, (n, 1, 1)) * (1 + 0.5 * _smooth_field(rng, n, 8))
    x = np.where(masks & ~garment, level, x)

    # sensor noise on what is not background
    noise = rng.normal(0, 1, (n, SIZE, SIZE)) * rng.uniform(0, 0.05, (n, 1, 1))
    x = np.where(garment | (x > 8 / 255), x + noise, x)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def photo_style(images: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """A uint8 (N, 28, 28) batch with `share` of its images (chosen at random) photo-like."""
    chosen = np.flatnonzero(rng.random(len(images)) < share)
    if len(chosen) == 0:
        return images
    out = images.copy()
    out[chosen] = photo_like(images[chosen], rng)
    return out

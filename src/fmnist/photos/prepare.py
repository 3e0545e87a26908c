"""A photo on its way to the model: decode, find the garment, Zalando's steps, 28 x 28.

    >>> import numpy as np
    >>> from PIL import Image
    >>> photo = np.full((120, 90, 3), 240, np.uint8)   # a product shot: a dark shirt on white
    >>> photo[20:100, 15:75] = 40
    >>> steps = photo_steps(Image.fromarray(photo))
    >>> steps.pixels.shape, steps.segmentation
    ((28, 28), 'plain background: trimmed')
    >>> steps = load_photo_steps("shirt.jpg")                       # doctest: +SKIP

A photo has its garment found (`fmnist.photos.segmentation`, unless its ground is
plain), then goes through the steps Zalando used to make Fashion-MNIST from product photos
(see `zalando_steps`), so the model sees what it was trained on: a light article on a dark
ground, 28 x 28, 8-bit grayscale. Every step's image is kept (`PhotoSteps`), so that
`fmnist predict --explain` and the service's page can show them.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from fmnist.errors import FmnistError
from fmnist.images import FORMAT_NAMES, MAX_PIXELS, PHOTO_FORMATS, READ_AS
from fmnist.photos.segmentation import ground_fill, isolate_garment

TRIM_DISTANCE = 0.05 * 255 * np.sqrt(3)  # 5% of the largest distance in RGB space
CANVAS = 28
MAX_ASPECT = 50  # a photo of a garment is never 50 times wider than tall (strip-image bombs)
WORKING_SIZE = 256  # photos are shrunk to about this (long edge) before any arithmetic
PLAIN = "plain background: trimmed"  # segmentation skipped: Zalando's trim suffices
PLAIN_SHARE = 0.95  # share of the edge pixels that must match the corners for PLAIN


class PhotoError(FmnistError):
    """An image file cannot be read or used."""


class PhotoTooLarge(PhotoError):
    """An image over the pixel limit (the service answers 413 for it, not 400)."""


def open_photo(source, name: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file (path or file object), refusing oversized or unreadable ones."""
    try:
        with warnings.catch_warnings():  # over Pillow's own limit: fmnist's one line, below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
        if READ_AS.get(image.format, image.format) not in PHOTO_FORMATS:
            raise PhotoError(f"{name}: a {image.format} image; fmnist reads {FORMAT_NAMES}")
        if getattr(image, "n_frames", 1) > 1 and image.format != "MPO":
            raise PhotoError(f"{name}: an animated image ({image.n_frames} frames); give one still")
        if image.width * image.height > max_pixels:
            raise PhotoTooLarge(
                f"{name}: {image.width}x{image.height} pixels is over the limit of {max_pixels:,}"
            )
        if max(image.size) > MAX_ASPECT * max(1, min(image.size)):
            raise PhotoError(
                f"{name}: {image.width}x{image.height} pixels: the sides differ by more than "
                f"{MAX_ASPECT}:1, not a photo"
            )
        if READ_AS.get(image.format, image.format) == "JPEG":  # decode at a scale: less work
            image.draft("RGB", (WORKING_SIZE, WORKING_SIZE))
        image.load()
    except PhotoError:
        raise
    except PermissionError:
        raise PhotoError(f"{name}: permission denied") from None
    except UnidentifiedImageError:  # its message shows Python internals, not the file
        raise PhotoError(f"{name}: not a readable image (not {FORMAT_NAMES} data)") from None
    except Image.DecompressionBombError:
        raise PhotoError(f"{name}: too many pixels to decode safely") from None
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt data
        raise PhotoError(f"{name}: cannot decode the image (truncated or corrupt)") from None
    return image


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grayscale scaled to 8 bits (Pillow's own conversion clips them: a
    16-bit photo would come out all white or all black)."""
    if image.mode.startswith("I"):
        pixels = np.asarray(image, dtype=np.float64)
        scale = 257.0 if pixels.max(initial=0) > 255 else 1.0  # 65535 -> 255
        return Image.fromarray(np.clip(pixels / scale, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        pixels = pixels * 255 if pixels.max(initial=0) <= 1 else pixels
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """RGB at about WORKING_SIZE, with any transparency composited onto white (a product
    photo's background). Shrinking first (a box reduction by a whole factor) keeps the
    arithmetic on a few hundred pixels a side, whatever the camera."""
    image = _to_8bit(ImageOps.exif_transpose(image))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    factor = max(image.size) // WORKING_SIZE
    if factor >= 2:
        image = image.reduce(factor)
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass
class PhotoSteps:
    """What became of a photo on its way to the model, step by step (`--explain` draws it)."""

    original: np.ndarray | None  # RGB uint8, the photo at about WORKING_SIZE (None: dropped)
    mask: np.ndarray | None  # bool, the garment found in `original`; None where none was
    crop: np.ndarray | None  # RGB uint8: the article, trimmed (background white where masked)
    pixels: np.ndarray  # uint8 (28, 28): what the model sees
    segmentation: str  # "grabcut", PLAIN, "fallback to trimming: <why>" or "not asked"

    def without_images(self) -> PhotoSteps:
        """The steps with only the 28 x 28 input and how it was found: about 1 KB where the
        whole is about 0.4 MB, what an answer keeps when thousands of photos stream past."""
        return dataclasses.replace(self, original=None, mask=None, crop=None)

    @property
    def segmented(self) -> bool:
        return self.mask is not None

    @property
    def fell_back(self) -> bool:
        """Segmentation was tried and found nothing plausible: the answer should say so."""
        return self.segmentation.startswith("fallback")


def photo_steps(image: Image.Image, segment: bool = True) -> PhotoSteps:
    """Find the garment (`fmnist.photos.segmentation`; skipped on a plain background, where
    Zalando's trim finds it, and with segment=False), then Zalando's steps
    (`zalando_steps`), keeping each step's image."""
    original = np.asarray(_flatten_alpha(image))  # uint8 throughout: no float copy
    mask, how = None, "not asked"
    article = original
    if segment and plain_ground(original):
        how = PLAIN
    elif segment:
        article, mask, how = isolate_garment(original)
    # A garment cut out of a phone photo is not sharpened: its creases and texture are
    # already stronger than a product shot's (photos-dev, top-1 with the default model:
    # 52.8% unsharpened against 49.0% sharpened; docs/models-and-predictions.md).
    # A cut-out's ground is known (its corners may be sleeves, not ground).
    ground = None if mask is None else (ground_fill(original, mask),) * 3
    pixels, crop = zalando_steps(article, sharpen=mask is None, background=ground)
    return PhotoSteps(original, mask, crop, pixels, how)


def prepare_photo(image: Image.Image, segment: bool = True) -> np.ndarray:
    """A photo as Fashion-MNIST pixels: uint8 (28, 28), the article light on a dark ground
    (see `photo_steps`)."""
    return photo_steps(image, segment).pixels


def plain_ground(rgb: np.ndarray) -> bool:
    """Whether the photo's edges are all about one colour, a product shot's: at least
    PLAIN_SHARE of the outermost pixels within TRIM_DISTANCE of the corners' median colour.
    There Zalando's trim finds the article as it was made to, at no cost."""
    corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float64)
    ground = np.median(corners, axis=0)
    edges = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64)
    near = np.sqrt(((edges - ground) ** 2).sum(axis=1)) <= TRIM_DISTANCE
    return float(near.mean()) >= PLAIN_SHARE


def zalando_steps(
    rgb: np.ndarray, sharpen: bool = True, background=None
) -> tuple[np.ndarray, np.ndarray]:
    """Zalando's steps on an RGB uint8 array: trim the edges close to the background
    colour (the corners' unless given; within 5% of the largest RGB distance); resize the
    longest edge to 28 keeping the aspect ratio; sharpen (unless told not to); centre on a
    28 x 28 canvas of the background colour; negate; 8-bit grayscale. Negation is skipped
    when the background is already dark, so the article always ends up light. Returns the
    28 x 28 pixels and the trimmed article.
    """
    height, width = rgb.shape[:2]
    if background is None:
        corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int32)
        background = np.median(corners, axis=0)  # a whole or half number per channel
    background = np.asarray(background, dtype=np.float64)
    # The distance test in integers: doubled, so the half numbers are whole, and squared,
    # so no square root: the same decision as |rgb - background| > TRIM_DISTANCE, read
    # from one 256-entry table a channel instead of computed pixel by pixel.
    levels = 2 * np.arange(256, dtype=np.int32)
    tables = [(levels - int(2 * b)) ** 2 for b in background]
    distance = sum(table[rgb[..., c]] for c, table in enumerate(tables))
    foreground = distance > (2 * TRIM_DISTANCE) ** 2
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if len(rows):
        rgb = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        height, width = rgb.shape[:2]
    scale = CANVAS / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    article = Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.Resampling.LANCZOS)
    if sharpen:
        article = article.filter(ImageFilter.UnsharpMask(radius=1, percent=100, threshold=0))
    fill = tuple(int(v) for v in background)
    canvas = Image.new("RGB", (CANVAS, CANVAS), fill)
    canvas.paste(article, ((CANVAS - size[0]) // 2, (CANVAS - size[1]) // 2))
    gray = np.asarray(canvas.convert("L"))
    light_background = float(np.mean(background)) > 127
    return (255 - gray if light_background else gray).astype(np.uint8), rgb


def load_photo_steps(path: Path | str, max_pixels: int = MAX_PIXELS, segment=True) -> PhotoSteps:
    """Read and prepare one photo file; PhotoError naming the file when it cannot."""
    path = Path(path)
    if path.is_dir():
        try:
            with os.scandir(path):
                pass
        except PermissionError:  # fmnist predict DIR lists what it cannot open, to say so
            raise PhotoError(f"{path}: a folder that cannot be read (permission denied)") from None
        raise PhotoError(f"{path}: a folder, not an image file; name the images in it")
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    return photo_steps(open_photo(path, str(path), max_pixels), segment)


def load_photo(path: Path | str, max_pixels: int = MAX_PIXELS, segment=True) -> np.ndarray:
    """One photo file as the model's 28 x 28 input (see `photo_steps`)."""
    return load_photo_steps(path, max_pixels, segment).pixels

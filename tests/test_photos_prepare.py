"""A photo's way to the 28 x 28 input, on photos made here: Zalando's steps on a product
shot, the plain ground that skips GrabCut, and the refusals that keep a bad file out."""

import io

import numpy as np
import pytest
from PIL import Image

from fmnist.photos.prepare import (
    PhotoError,
    PhotoTooLarge,
    open_photo,
    photo_steps,
    plain_ground,
    zalando_steps,
)


def product_shot(width=90, height=120):
    """A dark article, twice as tall as wide, on a white ground."""
    rgb = np.full((height, width, 3), 250, np.uint8)
    rgb[10:110, 20:70] = 30
    return rgb


def encoded(image: Image.Image, fmt="PNG") -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    buffer.seek(0)
    return buffer


def test_zalando_steps_trim_fit_the_long_edge_centre_and_negate():
    pixels, article = zalando_steps(product_shot(), sharpen=False)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    assert article.shape[:2] == (100, 50)  # trimmed to the article
    columns = np.flatnonzero(pixels.max(axis=0) > 128)
    assert pixels[:, 14].min() > 200  # the article fills the long edge, light (negated)
    assert 6 <= columns[0] <= 8 and 19 <= columns[-1] <= 21  # 14 wide, centred
    assert pixels[:, :5].max() < 10  # the ground, dark


def test_a_plain_ground_skips_the_garment_search():
    assert plain_ground(product_shot())
    busy = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    assert not plain_ground(busy)
    steps = photo_steps(Image.fromarray(product_shot()))
    assert steps.segmentation == "plain background: trimmed" and steps.mask is None


def test_transparency_is_white_and_sixteen_bits_are_scaled():
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[5:35, 5:25] = (20, 20, 20, 255)  # an opaque dark article, the rest transparent
    steps = photo_steps(Image.fromarray(rgba, "RGBA"))
    assert steps.original[0, 0].tolist() == [255, 255, 255]
    deep = np.full((40, 30), 60000, np.uint16)
    deep[5:35, 5:25] = 2000
    steps = photo_steps(Image.fromarray(deep))
    assert steps.pixels.max() > 200  # the article seen, not clipped to one colour


def test_bad_images_are_refused_in_one_line_naming_them():
    gif = encoded(Image.new("RGB", (10, 10)), "GIF")
    with pytest.raises(PhotoError, match="^a.gif: a GIF image; fmnist reads PNG, JPEG or WebP$"):
        open_photo(gif, "a.gif")
    with pytest.raises(PhotoTooLarge, match="big.png: 300x200 pixels is over the limit of 50,000"):
        open_photo(encoded(Image.new("RGB", (300, 200))), "big.png", max_pixels=50_000)
    with pytest.raises(PhotoError, match="strip.png: 600x2 pixels: the sides differ by more"):
        open_photo(encoded(Image.new("RGB", (600, 2))), "strip.png")
    noise = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    whole = encoded(Image.fromarray(noise)).getvalue()
    with pytest.raises(PhotoError, match="cut.png: cannot decode the image"):
        open_photo(io.BytesIO(whole[: len(whole) // 2]), "cut.png")

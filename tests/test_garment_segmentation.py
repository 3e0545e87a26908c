"""Finding the garment: a shape on a textured background comes out as the mask; where
nothing plausible is found, the photo goes on as it was and the answer says why."""

import numpy as np
from PIL import Image

from fmnist.garment_segmentation import garment_mask, isolate_garment


def scene(seed=0):
    """A dark-blue T-shape (a shirt) on a busy carpet of random warm colours, 160 x 200."""
    rng = np.random.default_rng(seed)
    carpet = rng.integers(120, 230, (200, 160, 3)).astype(np.uint8)
    carpet[..., 2] //= 3  # warm: little blue
    shape = np.zeros((200, 160), bool)
    shape[40:170, 55:105] = True  # body
    shape[40:80, 25:135] = True  # sleeves
    pixels = carpet.copy()
    pixels[shape] = (25, 35, 90) + rng.integers(-10, 10, (shape.sum(), 3))
    return pixels.astype(np.uint8), shape


def test_a_garment_on_a_textured_background_is_its_mask():
    pixels, truth = scene()
    mask, how = garment_mask(pixels)
    assert how == "grabcut"
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.85


def test_the_isolated_garment_is_cropped_on_white():
    pixels, truth = scene(1)
    image, how = isolate_garment(Image.fromarray(pixels))
    out = np.asarray(image)
    assert how == "grabcut"
    assert abs(out.shape[0] / out.shape[1] - 130 / 110) < 0.15  # cropped to the T-shape
    assert (out[-1, 0] == 255).all() and (out[-1, -1] == 255).all()  # beside the body
    carpet = (out[..., 2] < 80) & (out.min(axis=2) < 255)  # warm: the carpet's colours
    assert carpet.mean() < 0.05  # the carpet is gone where the shirt is not


def test_a_plain_photo_without_a_garment_falls_back_and_says_so():
    plain = Image.new("RGB", (120, 150), (200, 200, 200))
    image, how = isolate_garment(plain)
    assert image is plain and how.startswith("fallback to trimming")

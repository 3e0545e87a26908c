"""Finding the garment: a shape on a textured background comes out as the mask; where
nothing plausible is found, the photo goes on as it was and the answer says why."""

import numpy as np
from PIL import Image

from fmnist.photos.prepare import PLAIN, photo_steps, plain_ground
from fmnist.photos.segmentation import garment_mask, isolate_garment


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
    out, mask, how = isolate_garment(pixels)
    assert how == "grabcut"
    assert mask.shape == truth.shape  # the mask at the photo's own size
    assert (mask & truth).sum() / (mask | truth).sum() > 0.85
    assert abs(out.shape[0] / out.shape[1] - 130 / 110) < 0.15  # cropped to the T-shape
    assert (out[-1, 0] == 255).all() and (out[-1, -1] == 255).all()  # beside the body
    carpet = (out[..., 2] < 80) & (out.min(axis=2) < 255)  # warm: the carpet's colours
    assert carpet.mean() < 0.05  # the carpet is gone where the shirt is not


def test_a_plain_photo_without_a_garment_falls_back_and_says_so():
    plain = np.full((150, 120, 3), 200, np.uint8)
    out, mask, how = isolate_garment(plain)
    assert out is plain and mask is None and how.startswith("fallback to trimming")


def test_the_photo_steps_report_segmentation_and_its_fallback():
    pixels, _ = scene(2)
    steps = photo_steps(Image.fromarray(pixels))
    assert steps.segmented and steps.segmentation == "grabcut"
    assert steps.pixels.shape == (28, 28) and steps.pixels.dtype == np.uint8
    # the shirt (dark on a light carpet) fills the long edge, light on a black ground
    assert steps.pixels[:, 0].max() < 30 and steps.pixels[14, 14] > 100
    noise = np.random.default_rng(0).integers(0, 256, (12, 12, 3)).astype(np.uint8)
    tiny = photo_steps(Image.fromarray(noise))
    assert not tiny.segmented and tiny.fell_back
    assert tiny.segmentation == "fallback to trimming: too small to segment"


def test_a_product_shot_on_a_plain_ground_is_trimmed_without_grabcut():
    product = np.full((200, 160, 3), 250, np.uint8)
    product[30:180, 40:120] = (30, 30, 120)
    steps = photo_steps(Image.fromarray(product))
    assert steps.segmentation == PLAIN and not steps.fell_back
    assert steps.pixels[:, :5].max() <= 5 and steps.pixels[14, 14] > 150  # light on dark
    carpet, _ = scene(3)
    assert not plain_ground(carpet)

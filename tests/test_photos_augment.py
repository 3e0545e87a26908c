"""Photo-style augmentation: the same draw for the same seed, the share asked for, and
images that stay framed as the photo steps frame an article."""

import numpy as np

from fmnist.photos.augment import photo_like, photo_style


def garments(n=32, seed=0):
    """Light T-shapes of random brightness on black, framed like Fashion-MNIST's."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for image, level in zip(images, rng.integers(120, 250, n), strict=True):
        image[0:28, 8:20] = level  # body, full height as Fashion-MNIST's tops
        image[0:9, 2:26] = level  # sleeves
    return images


def test_the_same_seed_gives_the_same_batch():
    images = garments()
    a = photo_like(images, np.random.default_rng(3))
    b = photo_like(images, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, photo_like(images, np.random.default_rng(4)))


def test_only_the_share_asked_for_changes():
    images = garments(400)
    out = photo_style(images, np.random.default_rng(0), share=0.25)
    changed = np.any(out != images, axis=(1, 2)).mean()
    assert 0.15 < changed < 0.35
    np.testing.assert_array_equal(photo_style(images, np.random.default_rng(0), 0.0), images)


def test_augmented_articles_stay_framed_and_keep_their_ground():
    out = photo_like(garments(64), np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == (64, 28, 28)
    for image in out:
        rows = np.flatnonzero(image.max(axis=1) > 40)
        cols = np.flatnonzero(image.max(axis=0) > 40)
        # the long edge still spans (nearly) the canvas, as after the photo steps
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) >= 22
    # the ground stays dark: the corners hold no garment
    assert np.median(out[:, [0, 0, -1, -1], [0, -1, 0, -1]]) < 30

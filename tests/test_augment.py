"""NumPy augmentation against straightforward per-image references."""

import numpy as np

from fmnist.training.augment import augment, random_erasing, random_flip, random_shift


def images(n=64):
    return np.random.default_rng(1).integers(1, 256, size=(n, 28, 28), dtype=np.uint8)


def shift_reference(image, dy, dx):
    out = np.zeros_like(image)
    for r in range(28):
        for c in range(28):
            rr, cc = r + dy, c + dx
            if 0 <= rr < 28 and 0 <= cc < 28:
                out[r, c] = image[rr, cc]
    return out


def test_shift_equals_a_per_image_reference():
    x = images(16)
    shifted = random_shift(x, np.random.default_rng(7), 2)
    dy, dx = np.random.default_rng(7).integers(0, 5, size=(2, 16)) - 2
    for i in range(16):
        np.testing.assert_array_equal(shifted[i], shift_reference(x[i], dy[i], dx[i]))


def test_flip_mirrors_about_half():
    x = images(400)
    flipped = random_flip(x, np.random.default_rng(0))
    same = np.all(flipped == x, axis=(1, 2))
    mirrored = np.all(flipped == x[:, :, ::-1], axis=(1, 2))
    assert np.all(same | mirrored)
    assert 150 < mirrored.sum() < 250


def test_erasing_blanks_one_rectangle_per_image():
    x = images(200)  # no zero pixels, so zeros are exactly the erased ones
    erased = random_erasing(x, np.random.default_rng(0), probability=1.0)
    for original, out in zip(x, erased, strict=True):
        zero = out == 0
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        assert zero.sum() == len(rows) * len(cols)  # a full rectangle
        assert 1 <= zero.sum() <= 0.25 * 784 * 1.2
        np.testing.assert_array_equal(out[~zero], original[~zero])
    untouched = random_erasing(x, np.random.default_rng(0), probability=0.0)
    np.testing.assert_array_equal(untouched, x)


def test_augment_is_reproducible_and_off_by_default():
    x = images()
    np.testing.assert_array_equal(augment(x, np.random.default_rng(0)), x)
    a = augment(x, np.random.default_rng(3), shift=2, flip=True, erasing=0.5)
    b = augment(x, np.random.default_rng(3), shift=2, flip=True, erasing=0.5)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == x.shape and not np.array_equal(a, x)

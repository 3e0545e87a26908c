"""What a request may hold: uploads checked for type, emptiness and size, typed errors."""

import io

import numpy as np
import pytest
from PIL import Image

from fmnist.photos.prepare import PhotoError, PhotoTooLarge, open_photo
from fmnist.serving.requests import (
    ClientError,
    ServiceLimits,
    decode_uploads,
    image_from_upload,
    pixels_from_json,
)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 200, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def status_of(call, *args):
    with pytest.raises(ClientError) as raised:
        call(*args)
    return raised.value.status


def test_a_photo_over_the_pixel_limit_is_a_typed_error_and_a_413():
    with pytest.raises(PhotoTooLarge):
        open_photo(io.BytesIO(png(40, 30)), "big.png", max_pixels=1000)
    assert issubclass(PhotoTooLarge, PhotoError)
    assert status_of(image_from_upload, png(40, 30), "big.png", "image/png", 1000) == 413


def test_uploads_are_checked_the_same_way_before_and_at_decoding():
    limits = ServiceLimits()
    for data, content_type, status in (
        (png(28, 28), "text/plain", 415),
        (b"", "image/png", 400),
        (b"not an image", "image/png", 400),
        (png(28, 28), "image/jpeg", 415),  # declared JPEG, holds PNG
    ):
        assert status_of(image_from_upload, data, "a", content_type, 10**6) == status
        if status != 415 or content_type == "text/plain":
            files = [(data, "a", content_type)]
            assert status_of(decode_uploads, files, limits) in (status, 400)


def test_a_good_upload_becomes_28_by_28_pixels():
    steps = image_from_upload(png(56, 84), "ok.png", "image/png", 10**6)
    assert steps.pixels.shape == (28, 28) and steps.pixels.dtype == np.uint8


def test_json_pixels_are_checked_for_shape_and_range():
    assert pixels_from_json({"pixels": [[0] * 28] * 28}).shape == (1, 28, 28)
    assert status_of(pixels_from_json, {"pixels": [[300] * 28] * 28}) == 422
    assert status_of(pixels_from_json, {"pixels": [[0] * 27] * 28}) == 422
    assert status_of(pixels_from_json, [1, 2]) == 422

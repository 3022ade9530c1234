"""``verify_student.uploads``: the photo size limit, enforced while the body is parsed."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from verify_student.uploads import PhotoSizeLimitHandler, format_size


class Recording(FileUploadHandler):
    """What the handlers after the limit get to keep, per field."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, int] = {}

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.kept[self.field_name] = self.kept.get(self.field_name, 0) + len(raw_data)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def parse(
    files: dict[str, bytes], limit: int, settings
) -> tuple[PhotoSizeLimitHandler, Recording, dict]:
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "MAX_IMAGE_SIZE": limit}
    uploads = {name: io.BytesIO(data) for name, data in files.items()}
    for name, upload in uploads.items():
        upload.name = f"{name}.png"
    body = encode_multipart(BOUNDARY, uploads)
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    limit_handler, recording = PhotoSizeLimitHandler(), Recording()
    handlers = [limit_handler, recording, MemoryFileUploadHandler()]
    _post, parsed = MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    return limit_handler, recording, parsed


def test_a_photo_past_the_limit_is_not_kept_beyond_it(settings):
    chunk = PhotoSizeLimitHandler.chunk_size
    limit = chunk + 10
    big = b"x" * (chunk * 20)
    small = b"y" * 100
    limit_handler, recording, files = parse(
        {"face_image": big, "photo_id_image": small}, limit, settings
    )
    assert limit_handler.too_large == ["face_image"]
    assert recording.kept["face_image"] <= limit  # the first chunk only, of twenty
    assert "face_image" not in files
    assert files["photo_id_image"].read() == small  # the next field is parsed as usual


def test_a_photo_of_exactly_the_limit_is_kept(settings):
    limit_handler, _recording, files = parse({"face_image": b"z" * 3000}, 3000, settings)
    assert limit_handler.too_large == []
    assert files["face_image"].size == 3000


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (10 * 1024 * 1024, "10 MiB"),
        (10_500_000, "10500 kB"),
        (5_000_000, "5 MB"),
        (3 * 1024**3, "3 GiB"),
        (2048, "2 KiB"),
        (1000, "1 kB"),
        (1500, "1500 bytes"),
        (1, "1 byte"),
    ],
)
def test_sizes_are_stated_in_the_unit_they_are_set_in(size, text):
    assert format_size(size) == text

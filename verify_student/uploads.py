"""Reading the learner's photos from a request, within ``MAX_IMAGE_SIZE``.

The limit is enforced while the body is read, as far as Django lets a view:
a body longer than two photos can be is refused from its Content-Length
before anything is read, and a photo that passes the limit stops being kept
at that byte (``PhotoSizeLimitHandler``) and is refused naming it. Messages
name the photo as the learner knows it and state the limit in the unit it is
set in.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .conf import app_settings
from .exceptions import InvalidPhotoError

#: The form fields a photo comes in, and what a learner calls each.
PHOTO_FIELDS: dict[str, Any] = {
    "face_image": gettext_lazy("photo of your face"),
    "photo_id_image": gettext_lazy("photo of your ID"),
}
#: Room for the form's other fields and the multipart headers, in bytes.
FORM_OVERHEAD = 64 * 1024
_UNITS = (
    (1024**3, "GiB"),
    (1024**2, "MiB"),
    (1024, "KiB"),
    (1000**3, "GB"),
    (1000**2, "MB"),
    (1000, "kB"),
)


class PhotosTooLarge(InvalidPhotoError):
    """The request body is longer than the photos it may carry (answered 413)."""


def format_size(size: int) -> str:
    """``size`` bytes in the largest unit that divides it exactly: 10 MiB, 5 MB, 700 bytes."""
    for factor, unit in _UNITS:
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return ngettext("%(count)d byte", "%(count)d bytes", size) % {"count": size}


def too_large_message(label: Any) -> str:
    return _(
        "The %(photo)s is larger than %(limit)s, the largest photo accepted. "
        "Choose a smaller photo or take a new one."
    ) % {"photo": label, "limit": format_size(app_settings.MAX_IMAGE_SIZE)}


class PhotoSizeLimitHandler(FileUploadHandler):
    """Keeps no more of an uploaded photo than ``MAX_IMAGE_SIZE``; notes which passed it.

    Installed first, it passes each chunk on to Django's own handlers until
    the photo passes the limit; then the rest of that file is skipped (read
    off the connection, never kept) and ``too_large`` names the field.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = app_settings.MAX_IMAGE_SIZE
        self.too_large: list[str] = []

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.too_large.append(str(self.field_name))
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


def limit_photo_uploads(request: HttpRequest) -> PhotoSizeLimitHandler:
    """Refuse an over-long body unread; install the per-photo limit. Call before POST is read.

    Raises ``PhotosTooLarge`` when the Content-Length exceeds what two photos
    (as files or as base64 data URLs) and the form can take.
    """
    limit = app_settings.MAX_IMAGE_SIZE
    most = 2 * (limit * 4 // 3 + 4) + FORM_OVERHEAD  # base64 is 4/3 of the bytes
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > most:
        raise PhotosTooLarge(
            _("The photos are too large: each may be at most %(limit)s.")
            % {"limit": format_size(limit)}
        )
    handler = PhotoSizeLimitHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler


def photo_from_request(
    request: HttpRequest, field: str, handler: PhotoSizeLimitHandler | None = None
) -> bytes | None:
    """The photo in ``field``: a multipart file or a base64 data URL; None if absent.

    Raises ``InvalidPhotoError`` (its message fit for the learner) for a photo
    over the limit or a data URL that is not one.
    """
    label = PHOTO_FIELDS[field]
    upload = request.FILES.get(field)  # reads the body, through the handler, if not yet read
    if handler is not None and field in handler.too_large:
        raise InvalidPhotoError(too_large_message(label))
    if upload is not None:
        if upload.size is not None and upload.size > app_settings.MAX_IMAGE_SIZE:
            raise InvalidPhotoError(too_large_message(label))
        return upload.read()
    from .api import decode_image

    value = request.POST.get(field)
    return decode_image(value) if value else None

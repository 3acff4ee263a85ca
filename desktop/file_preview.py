"""Images from the room, decoded with limits, and what the app knows of each shared file.

A shared image is anyone's bytes: a PNG whose header claims 30000 by 30000 pixels takes 3.6 GB
once decoded, a truncated JPEG decodes to grey, an SVG can point at files and servers. So an
image is decoded here only when:

* its first bytes are those of PNG, JPEG, GIF, WebP or BMP (:data:`FORMATS`), and the reader is
  told that format: no other image plugin (SVG, TIFF, …) ever sees the bytes;
* its header gives a size, each side at most :data:`MAX_SIDE` pixels;
* the decoded image fits :data:`ALLOCATION_MB` (the reader's own allocation limit is set too),
  except for a baseline JPEG, which is decoded already scaled down (libjpeg's DCT scaling) and
  may have up to :data:`MAX_JPEG_PIXELS` pixels;
* a JPEG is complete (its last marker is there): libjpeg would otherwise fill the rest in
  grey and only log a warning.

What passes is decoded at most :data:`THUMBNAIL` in size, off the GUI thread
(:func:`thumbnail`: ``QImage`` and ``QImageReader`` may be used from any thread). Everything
else raises :class:`PreviewError`, whose text says why in words for people; the chat shows
"This image could not be shown: …" instead. Nothing here raises anything else for any input.

:class:`FileView` is what the app knows of a shared file beyond the transcript: a download
under way, the thumbnail or why there is none, where it was saved.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader

__all__ = [
    "ALLOCATION_MB",
    "FORMATS",
    "MAX_JPEG_PIXELS",
    "MAX_SIDE",
    "THUMBNAIL",
    "FileView",
    "PreviewError",
    "decode_thumbnail",
    "image_format",
    "thumbnail",
]

THUMBNAIL = QSize(320, 240)
"""The largest thumbnail shown in the chat (an image is never enlarged)."""
MAX_SIDE = 12_000
"""Images wider or taller than this (in pixels) are not decoded."""
ALLOCATION_MB = 64
"""The most memory one decoded image may take."""
MAX_JPEG_PIXELS = 50_000_000
"""A baseline JPEG is decoded scaled down as it is read, so it may be larger: a 48-megapixel
photo is shown; a progressive one keeps the whole image's coefficients and gets the usual
limit."""

FORMATS: tuple[tuple[bytes, bytes], ...] = (
    (b"\x89PNG\r\n\x1a\n", b"png"),
    (b"\xff\xd8\xff", b"jpeg"),
    (b"GIF87a", b"gif"),
    (b"GIF89a", b"gif"),
    (b"BM", b"bmp"),
)
"""Image formats shown inline, by their first bytes (WebP is told by its RIFF header)."""

_BYTES_PER_PIXEL = 4  # what Qt decodes into (ARGB32, RGB32)


class PreviewError(Exception):
    """An image that is not shown; ``str()`` says why, to people ("it is 30,000 by 30,000
    pixels, too large to show")."""


def image_format(data: bytes) -> bytes | None:
    """The Qt image format of ``data`` from its first bytes (``b"png"``…), or None for
    anything not in :data:`FORMATS` or WebP."""
    for signature, name in FORMATS:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return b"webp"
    return None


def decode_thumbnail(data: bytes, box: QSize = THUMBNAIL) -> QImage:
    """``data`` decoded into an image that fits ``box`` (its aspect kept, never enlarged).
    Raises :class:`PreviewError` for anything not shown (see the module's docstring). Safe to
    call from any thread; it holds at most the decoded image and the thumbnail."""
    fmt = image_format(data)
    if fmt is None:
        raise PreviewError("it is not a PNG, JPEG, GIF, WebP or BMP image")
    progressive = False
    if fmt == b"jpeg":
        progressive = _check_jpeg(data)
    array = QByteArray(data)
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, fmt)
    reader.setAutoDetectImageFormat(False)  # only the plugin of the format its bytes say
    reader.setAllocationLimit(ALLOCATION_MB)
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        raise PreviewError("its size cannot be read: the file is damaged")
    width, height = size.width(), size.height()
    if width > MAX_SIDE or height > MAX_SIDE:
        raise PreviewError(f"it is {width:,} by {height:,} pixels, too large to show")
    scaled_as_read = fmt == b"jpeg" and not progressive
    scales = scaled_as_read and reader.supportsOption(QImageIOHandler.ImageOption.ScaledSize)
    limit = MAX_JPEG_PIXELS if scales else ALLOCATION_MB * 1024 * 1024 // _BYTES_PER_PIXEL
    if width * height > limit:
        raise PreviewError(f"it is {width:,} by {height:,} pixels, too large to show")
    wanted = size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio)
    if wanted.width() >= width or wanted.height() >= height:
        wanted = size  # small already: as it is
    if scales:
        reader.setScaledSize(wanted)
    image = reader.read()
    if image.isNull():
        raise PreviewError(f"the file is damaged ({reader.errorString().rstrip('.')})")
    if image.size() != wanted:
        image = image.scaled(
            wanted, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return image


# One thread for every thumbnail of the app (the chat's and the share question's): a decode
# may take up to ALLOCATION_MB, so they run one at a time, and never hold up saving a file
# (which uses the loop's default executor).
_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")


async def thumbnail(data: bytes, box: QSize = THUMBNAIL) -> QImage:
    """:func:`decode_thumbnail` in the app's one decoding thread, after the decodes before it:
    the window stays responsive while a large image is decoded."""
    return await asyncio.get_running_loop().run_in_executor(_DECODER, decode_thumbnail, data, box)


def _check_jpeg(data: bytes) -> bool:
    """Walk a JPEG's markers to its end: raises :class:`PreviewError` when it stops before its
    end-of-image marker (a truncated file); returns whether it is progressive (or otherwise
    not a baseline JPEG, which cannot be decoded scaled down as it is read)."""
    truncated = PreviewError("the file is incomplete (it ends before the image does)")
    progressive = False
    at, end = 2, len(data)
    while True:
        while at < end and data[at] == 0xFF:  # fill bytes before a marker
            at += 1
        if at >= end:
            raise truncated
        marker = data[at]
        at += 1
        if marker == 0xD9:  # end of image
            return progressive
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        if at + 2 > end:
            raise truncated
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2:
            raise PreviewError("the file is damaged (a JPEG segment is too short)")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            progressive = progressive or marker not in (0xC0, 0xC1)
        at += length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            at = _scan_end(data, at)
        if at > end:
            raise truncated


def _scan_end(data: bytes, at: int) -> int:
    """Where the entropy-coded data starting at ``at`` ends: at the next 0xFF that is neither
    a stuffed zero nor a restart marker (``len(data)`` if there is none)."""
    end = len(data)
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= end:
            return end
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            at += 2
            continue
        return at


@dataclass
class FileView:
    """What this app knows of one shared file beyond the transcript's entry.

    ``received`` is the bytes fetched so far while a download is under way (None when none
    is), ``saving`` whether that download is for a Save… (else for the thumbnail).
    ``thumbnail`` is the decoded image, ``hidden`` whether it was let go (too many were shown)
    and can be shown again, ``problem`` why it could not be had or shown, ``saved`` a line
    about where it was saved.
    """

    received: int | None = None
    saving: bool = False
    thumbnail: QImage | None = None
    hidden: bool = False
    problem: str = ""
    saved: str = ""

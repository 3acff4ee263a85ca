"""Which shared files go to the AI provider, and in what form.

Pure functions on :class:`~core.shared_files.SharedFile` values. Only files whose senders let
the assistant read them (``assistant=True``) ever go; :func:`files_to_send` checks that again
whatever it is given, so no caller can send one by mistake. Of those:

* an ``image`` (PNG, JPEG, GIF or WebP) goes as an image input, a content part holding a
  ``data:`` URL, to a model that takes images (:func:`takes_images`), if its URL stays within
  what providers accept (:data:`MAX_IMAGE_URL_BYTES`) and the images of one request stay within
  :data:`MAX_REQUEST_IMAGE_BYTES` (the newest images first);
* a ``text`` file goes as a text part, ``File <name> (shared by <author>):`` and its text;
* a ``pdf`` likewise with its extracted text, once the room has it (``SharedFile.text``);
* a ``program`` or ``other`` file never goes.

A file that does not go gets a :class:`FileNotice` (code ``file_not_sent``) saying why, in
words for everyone, naming the file; :mod:`core.ai.context` adds ``file_shortened`` notices
for texts it cuts to fit the model's context.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

from core.ai.file_text import extract_text, was_cut
from core.protocol import FileId
from core.shared_files import SharedFile

__all__ = [
    "FILE_NOT_SENT",
    "FILE_SHORTENED",
    "IMAGE_MIMES",
    "IMAGE_TOKENS",
    "MAX_IMAGE_URL_BYTES",
    "MAX_REQUEST_IMAGE_BYTES",
    "MAX_TEXT_CHARS",
    "ContentPart",
    "FileNotice",
    "ImagePart",
    "ImageUrl",
    "TextPart",
    "extraction_cut_notice",
    "file_heading",
    "file_parts",
    "files_to_send",
    "image_url_bytes",
    "readable_text",
    "takes_images",
    "unsent_notices",
]

FILE_NOT_SENT = "file_not_sent"
FILE_SHORTENED = "file_shortened"

IMAGE_MIMES = frozenset(["image/png", "image/jpeg", "image/gif", "image/webp"])
"""Image types that OpenAI and the compatible servers take as image inputs (not BMP)."""
MAX_IMAGE_URL_BYTES = 20_000_000
"""The longest ``data:`` URL sent for one image (OpenAI takes images up to 20 MB)."""
MAX_REQUEST_IMAGE_BYTES = 50_000_000
"""The most image data (as ``data:`` URLs) in one request (OpenAI's payload limit is 50 MB)."""
MAX_TEXT_CHARS = 200_000
"""The most of a file's text the room extracts and the assistant may read."""
IMAGE_TOKENS = 1_200
"""What one image is counted as against the context budget. OpenAI charges a high-detail
image by 512-pixel tiles after scaling: 765 tokens for 1024x1024, at most 1,105 for larger
ones; other providers are in the same range. Counted on the safe side."""


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImageUrl(TypedDict):
    url: str


class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = TextPart | ImagePart


@dataclass(frozen=True)
class FileNotice:
    """Something everyone should know about a file and the assistant (a room ``notice``)."""

    file: FileId
    code: str  # FILE_NOT_SENT or FILE_SHORTENED
    text: str


# Model-name families that take image inputs, matched at the start of the name (after any
# "vendor/" prefix), and names within them that do not.
_VISION_FAMILIES = (
    "gpt-4o",
    "chatgpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-4-turbo",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "llava",
    "bakllava",
    "llama3.2-vision",
    "llama-3.2-11b-vision",
    "llama-3.2-90b-vision",
    "llama4",
    "llama-4",
    "qwen2.5vl",
    "qwen2.5-vl",
    "qwen2-vl",
    "qwen3-vl",
    "qwen-vl",
    "gemma3",
    "gemma-3",
    "minicpm-v",
    "moondream",
    "mistral-small3.1",
    "mistral-small3.2",
    "mistral-small-3.1",
    "mistral-small-3.2",
    "pixtral",
    "granite3.2-vision",
    "internvl",
    "claude-3",
    "claude-sonnet-4",
    "claude-opus-4",
    "gemini",
)
_NOT_VISION = (
    "o1-mini",
    "o1-preview",
    "o3-mini",
    "gpt-4-turbo-preview",
    "gemma3:1b",
    "gemma3:270m",
    "gemma-3-1b",
)
# Variants of vision families that take audio or search the web instead.
_NOT_VISION_WORDS = ("audio", "realtime", "search", "transcribe", "tts")


def takes_images(model: str) -> bool:
    """Whether ``model`` takes image inputs, judged by its name.

    OpenAI's ``/v1/models`` (and the compatible servers' copies of it) says nothing about
    what a model accepts, so this knows the families that do: OpenAI's gpt-4o, gpt-4.1,
    gpt-4.5, gpt-4-turbo, gpt-5 and o1/o3/o4 (not o1-mini or o3-mini, nor the audio, realtime
    and search variants), and the open models LLaVA, BakLLaVA, Llama 3.2 Vision, Llama 4,
    Qwen-VL, Gemma 3 (not its 1B size), MiniCPM-V, Moondream, Mistral Small 3.1+, Pixtral,
    Granite Vision and InternVL, plus Claude 3+ and Gemini behind compatible gateways; and any
    name with ``vision`` or ``-vl`` in it. Any other model is taken not to (its images get a
    ``file_not_sent`` notice rather than a failed request); a provider that refuses images
    all the same is handled by the relay.
    """
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith(_NOT_VISION) or any(word in name for word in _NOT_VISION_WORDS):
        return False
    if "vision" in name or "-vl" in name:
        return True
    return name.startswith(_VISION_FAMILIES)


def readable_text(file: SharedFile) -> str | None:
    """What the assistant reads of a ``text`` or ``pdf`` file: its extracted text, or for a
    ``text`` file whose text has not been stored yet, its bytes decoded as the room would
    (at most :data:`MAX_TEXT_CHARS` characters). None otherwise."""
    if file.text is not None:
        return file.text
    if file.kind == "text":
        return extract_text(file.data, "text", max_chars=MAX_TEXT_CHARS)
    return None


def image_url_bytes(file: SharedFile) -> int:
    """The length of ``file``'s ``data:`` URL, without building it."""
    return len(f"data:{file.mime};base64,") + 4 * -(-file.size // 3)


def _why_not(
    file: SharedFile, model: str, refused: Collection[FileId], images: bool | None
) -> str | None:
    """Why ``file`` cannot go to ``model`` at all (whatever else goes with it), or None.
    ``images``: whether the model takes images, as its provider said (None: not said)."""
    if file.id in refused:
        return f"the AI provider refused it (the model {model} may not take images like it)"
    if file.kind == "image":
        if images is False:
            return f"the model {model} does not take images"
        if images is None and not takes_images(model):
            return f"the model {model} is not known to take images"
        if file.mime not in IMAGE_MIMES:
            kind = file.mime.rsplit("/", 1)[-1].upper()
            return f"the AI provider does not take {kind} images (only PNG, JPEG, GIF and WebP)"
        if image_url_bytes(file) > MAX_IMAGE_URL_BYTES:
            return "the image is larger than the AI provider accepts"
        return None
    if file.kind in ("text", "pdf"):
        if file.text_problem is not None:
            return f"the assistant could not read it ({file.text_problem})"
        if file.text is None and file.kind == "pdf":  # a text file can be decoded now
            return "its text was still being read"
        return None
    if file.kind == "program":
        return "the assistant does not read programs or scripts"
    return f"the assistant cannot read this type of file ({file.mime})"


def _plan(
    files: Iterable[SharedFile], model: str, refused: Collection[FileId], images: bool | None
) -> tuple[list[SharedFile], list[FileNotice]]:
    consented = [f for f in files if f.assistant]
    sent: list[SharedFile] = []
    notices: list[FileNotice] = []
    image_bytes = 0
    # Newest first, so that when the images do not all fit in one request the latest go.
    for file in sorted(consented, key=lambda f: f.seq, reverse=True):
        why = _why_not(file, model, refused, images)
        if why is None and file.kind == "image":
            size = image_url_bytes(file)
            if image_bytes + size > MAX_REQUEST_IMAGE_BYTES:
                why = "the images shared after it fill what one request can carry"
            else:
                image_bytes += size
        if why is None:
            sent.append(file)
        else:
            notices.append(_not_sent(file, why))
    sent.reverse()
    notices.reverse()
    return sent, notices


def _not_sent(file: SharedFile, why: str) -> FileNotice:
    return FileNotice(
        file.id, FILE_NOT_SENT, f'"{file.name}" was not sent to the assistant: {why}.'
    )


def files_to_send(
    files: Sequence[SharedFile],
    model: str,
    *,
    refused: Collection[FileId] = (),
    images: bool | None = None,
) -> tuple[SharedFile, ...]:
    """The files of ``files`` that go to ``model``, in the order given: only those shared with
    ``assistant=True``, and of those the ones the model can use (see the module docstring),
    but none of ``refused`` (files the provider refused before). ``images``: whether the
    model takes images, where its provider said (None: judged by :func:`takes_images`)."""
    sent, _ = _plan(files, model, refused, images)
    by_id = {f.id for f in sent}
    return tuple(f for f in files if f.id in by_id)


def unsent_notices(
    files: Sequence[SharedFile],
    model: str,
    *,
    refused: Collection[FileId] = (),
    images: bool | None = None,
) -> list[FileNotice]:
    """A ``file_not_sent`` notice for each file of ``files`` shared with the assistant that
    :func:`files_to_send` leaves out, oldest first (files without consent get none: they
    are none of the assistant's business)."""
    _, notices = _plan(files, model, refused, images)
    return notices


def file_heading(file: SharedFile) -> str:
    """The line that introduces a file to the model."""
    what = "Image" if file.kind == "image" else "File"
    return f"{what} {file.name} (shared by {file.author_name}):"


def file_parts(file: SharedFile, text: str | None = None) -> list[ContentPart]:
    """The content parts of one file: an image's heading and image input, or a text's heading
    and ``text`` (by default all of :func:`readable_text`). Raises ``ValueError`` for a file
    sent without its sender's consent or that has nothing to send."""
    if not file.assistant:
        raise ValueError("this file's sender did not let the assistant read it")
    if file.kind == "image":
        data = base64.b64encode(file.data).decode("ascii")
        image: ImagePart = {
            "type": "image_url",
            "image_url": {"url": f"data:{file.mime};base64,{data}"},
        }
        return [{"type": "text", "text": file_heading(file)}, image]
    body = text if text is not None else readable_text(file)
    if body is None:
        raise ValueError("this file has no text to send")
    return [{"type": "text", "text": f"{file_heading(file)}\n{body}"}]


def extraction_cut_notice(file: SharedFile) -> FileNotice | None:
    """A ``file_shortened`` notice when ``file``'s stored text was cut when it was read (a
    very long PDF or text), else None."""
    text = file.text
    if text is None or not was_cut(text):
        return None
    note = text.rsplit("\n\n[... cut: ", 1)[-1].removesuffix(" left out]")
    return FileNotice(
        file.id,
        FILE_SHORTENED,
        f'"{file.name}" was too long for the assistant: {note} left out.',
    )

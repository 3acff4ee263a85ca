"""The bridge between a :class:`core.client.RoomClient` and Qt.

A :class:`RoomSession` runs the client's event stream on the qasync loop and re-emits every
event as a Qt signal, so widgets only subscribe. It is the one thing widgets talk to: they
read the room's state from its properties (never from the client underneath) and act through
its methods. Its actions are plain methods that start a tracked task (qasync's ``asyncSlot``
keeps no reference to its tasks, so we keep our own); a failed action is reported through
:attr:`RoomSession.action_failed`, never raised into Qt.

The rules of who may do what come from core (:mod:`core.answer_rights`), so that a button is
offered exactly when the room would allow it.

Files: :meth:`RoomSession.share_file` hands a file to the client (which sends it in chunks and
reports its progress as events), :meth:`~RoomSession.fetch_file` fetches one into memory (a
``FileFetched`` event brings it), and :meth:`~RoomSession.save_file` fetches one and writes it
where the person chose, readable by them alone on POSIX systems, then says so with
:attr:`~RoomSession.file_saved` (or :attr:`~RoomSession.file_not_saved`). Nothing is written
anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.answer_rights import may_control_answer, stoppable_answer
from core.client import (
    ClientEvent,
    DownloadFailed,
    Ended,
    FileRefused,
    MessageTooLarge,
    NotConnected,
    RoomClient,
    UnknownFile,
)
from core.hosting import RoomHost
from core.local_files import write_private
from core.protocol import (
    AnswerId,
    AssistantState,
    BanId,
    BanInfo,
    ConfigureAssistant,
    FileId,
    MessageId,
    ParticipantId,
    ParticipantInfo,
    RoomInfo,
    Welcome,
)

__all__ = ["RoomSession"]

log = logging.getLogger("gptgroup.desktop.session")


class RoomSession(QObject):
    """One joined room: its client, the host side when we host it, and its events as signals."""

    event_received = Signal(object)
    """Every :data:`core.client.ClientEvent`, in room order (the welcome's replay first)."""
    action_failed = Signal(str)
    """A sentence for the user: an action could not be carried out."""
    file_saved = Signal(str, str)
    """A file (its id) was saved where the person chose (the path)."""
    file_not_saved = Signal(str, str)
    """A file (its id) could not be saved: a sentence saying why."""

    def __init__(
        self,
        client: RoomClient,
        welcome: Welcome,
        host: RoomHost | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client  # for the session's own use (and tests): widgets read the properties
        self.welcome = welcome
        self.host = host  # set when this app hosts the room
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- state, read-only

    @property
    def is_host(self) -> bool:
        return self.client.you.role == "host"

    @property
    def you(self) -> ParticipantInfo:
        return self.client.you

    @property
    def participants(self) -> dict[str, ParticipantInfo]:
        return self.client.participants

    @property
    def room(self) -> RoomInfo:
        return self.client.room

    @property
    def instance(self) -> str | None:
        """Which run of the room this is; it changes when the host restarts the room."""
        return self.client.instance

    @property
    def connected(self) -> bool:
        """Whether we are in touch with the room now (not reconnecting, not ended)."""
        return self.client.connected

    @property
    def ended(self) -> Ended | None:
        """Why we are out of the room for good, once we are (the last event says it too)."""
        return self.client.ended

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def fingerprint(self) -> bytes | None:
        """The room certificate's fingerprint that every connection of this session must
        present (None only before the first connection, which a session never is)."""
        return self.client.fingerprint

    @property
    def verification_code(self) -> str | None:
        """The code people compare with the host's: derived from :attr:`fingerprint`."""
        return self.client.verification_code

    @property
    def room_code(self) -> str | None:
        """The room code as the host typed it, when this app hosts the room and it has one
        (the host shows it to people it invites); None for a guest."""
        return self.host.config.password if self.host is not None else None

    @property
    def name(self) -> str:
        """The display name we asked to join with."""
        return self.client.name

    @property
    def assistant_state(self) -> AssistantState | None:
        """What the assistant is doing, or None while out of touch (it may be stale then)."""
        return self.client.assistant_state if self.connected else None

    @property
    def bans(self) -> tuple[BanInfo, ...]:
        return self.client.bans

    def stoppable_answer(self) -> AnswerId | None:
        """The answer a Stop acts on for us now (see :func:`core.answer_rights.stoppable_answer`);
        None while out of touch with the room."""
        if not self.connected:
            return None
        return stoppable_answer(self.assistant_state, self.you.id, host=self.is_host)

    def may_regenerate(self, asked_by: ParticipantId) -> bool:
        """Whether we may ask again for an answer to ``asked_by``'s question, now."""
        return self.connected and may_control_answer(
            host=self.is_host, me=self.you.id, asked_by=asked_by
        )

    def start(self) -> None:
        """Begin delivering events (the welcome's replay comes first)."""
        self._pump = asyncio.ensure_future(self._deliver())
        if self.host is not None:
            self._run(self._close_host_when_room_closes(self.host))

    async def _close_host_when_room_closes(self, host: RoomHost) -> None:
        """Closing the room from the menu must also stop listening and withdraw the
        announcement, not only end the conversation."""
        await host.wait_room_closed()
        await host.close("closed_by_host")

    async def _deliver(self) -> None:
        event: ClientEvent
        async for event in self.client.events():
            self.event_received.emit(event)  # an Ended comes last

    # ----------------------------------------------------------------- actions

    @property
    def room_abilities(self) -> tuple[str, ...]:
        """The optional features the room offers (``message-actions``, ``continue``...)."""
        return self.client.room_abilities

    def send(self, text: str, *, reply_to: int | None = None) -> MessageId | None:
        """Queue a message (a reply to message ``reply_to``, its seq, if given); returns its
        client id, or None when it cannot be sent (said through :attr:`action_failed`)."""
        try:
            return self.client.post(text, reply_to=reply_to)
        except (MessageTooLarge, NotConnected) as exc:
            self.action_failed.emit(str(exc))
            return None

    def share_file(self, name: str, data: bytes, *, assistant: bool = False) -> MessageId | None:
        """Share ``data`` as ``name`` (the assistant may read it only with ``assistant``);
        returns the upload's id, whose progress and outcome arrive as events, or None when
        the room cannot take it (said through :attr:`action_failed`)."""
        try:
            return self.client.share_file(name, data, assistant=assistant)
        except (FileRefused, NotConnected) as exc:
            self.action_failed.emit(str(exc))
            return None

    def cancel_upload(self, upload: MessageId) -> None:
        """Stop sharing a file still being sent (an ``UploadFailed`` "cancelled" follows)."""
        with contextlib.suppress(NotConnected):  # once out of the room, it failed anyway
            self.client.cancel_upload(upload)

    def fetch_file(self, file: FileId) -> bool:
        """Fetch a shared file into memory: ``DownloadProgress`` events, then ``FileFetched``
        or ``FetchFailed``. Asking again for a file being fetched changes nothing. False
        when it cannot be fetched now (out of the room, or a file the room never named)."""
        try:
            self.client.fetch_file(file)
        except (NotConnected, UnknownFile):
            return False
        return True

    def stop_fetch(self, file: FileId) -> None:
        """Stop fetching ``file`` (a ``FetchFailed`` "cancelled" follows)."""
        with contextlib.suppress(NotConnected):
            self.client.stop_fetch(file)

    def save_file(self, file: FileId, path: Path) -> None:
        """Fetch ``file`` and write it to ``path`` (the person chose it, and agreed to replace
        what is there); :attr:`file_saved` or :attr:`file_not_saved` follows."""
        self._run(self._save_file(file, path))

    async def _save_file(self, file: FileId, path: Path) -> None:
        try:
            data = await self.client.download(file)
        except DownloadFailed as exc:
            self.file_not_saved.emit(file, f"It could not be fetched: {exc.message}")
            return
        except (NotConnected, UnknownFile):
            self.file_not_saved.emit(file, "It cannot be fetched: you are not in the room.")
            return
        try:
            await asyncio.to_thread(write_private, path, data, replace=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self.file_not_saved.emit(file, f"It could not be written to {path}: {reason}.")
            return
        self.file_saved.emit(file, str(path))

    def set_typing(self, active: bool) -> None:
        self._run(self.client.set_typing(active))

    def stop_answer(self, answer_id: AnswerId) -> None:
        self._run(self.client.stop_answer(answer_id))

    def regenerate(self, answer_id: AnswerId) -> None:
        self._run(self.client.regenerate(answer_id))

    def may_continue(self, asked_by: ParticipantId) -> bool:
        """Whether we may ask for the rest of a cut-off answer to ``asked_by``'s question, now
        (the same right as regenerating, in a room that offers it)."""
        return "continue" in self.client.room_abilities and self.may_regenerate(asked_by)

    def continue_answer(self, answer_id: AnswerId) -> None:
        self._run(self.client.continue_answer(answer_id))

    def edit_message(self, seq: int, text: str) -> None:
        """Replace the text of our message ``seq``; the room answers with an event."""
        self._run(self.client.edit_message(seq, text))

    def delete_message(self, seq: int) -> None:
        """Delete message ``seq`` for everyone (ours; the host's: any message or answer)."""
        self._run(self.client.delete_message(seq))

    def react(self, seq: int, emoji: str, *, active: bool = True) -> None:
        """Add (``active``) or take back our reaction ``emoji`` on message ``seq``."""
        self._run(self.client.react(seq, emoji, active=active))

    def kick(self, participant_id: ParticipantId, *, ban: bool = False) -> None:
        self._run(self.client.kick(participant_id, ban=ban))

    def unban(self, ban_id: BanId) -> None:
        """Host only: lift a ban (an id from ``client.bans``); a ``BanList`` event follows."""
        self._run(self.client.unban(ban_id))

    def lock(self, locked: bool) -> None:
        self._run(self.client.lock(locked))

    def configure_assistant(self, settings: ConfigureAssistant) -> None:
        """Host only: how the assistant behaves from now on (every setting at once)."""
        self._run(
            self.client.configure_assistant(
                mode=settings.mode,
                persona=settings.persona,
                token_budget=settings.token_budget,
                answer_quota=settings.answer_quota,
                quota_window=settings.quota_window,
            )
        )

    def close_room(self) -> None:
        self._run(self.client.close_room())

    async def leave(self) -> None:
        """Leave the room; if we host it, close it for everyone and withdraw it."""
        if self.host is not None:
            with contextlib.suppress(NotConnected):
                await self.client.close_room()
            await self.host.close("closed_by_host")
        await self.client.leave()
        if self._pump is not None:
            self._pump.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, NotConnected):
            self.action_failed.emit("Not connected to the room right now; try again in a moment.")
        elif error is not None:
            log.error("room action failed", exc_info=error)
            self.action_failed.emit(f"That did not work: {error}")

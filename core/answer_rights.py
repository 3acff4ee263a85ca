"""Who may stop or regenerate an answer of the assistant. No I/O.

One rule, used by the room to decide and by every front end to offer: the host may stop or
regenerate any answer; anyone else only the answers to their own questions. A front end
must never offer what the room would refuse; taking the rule from here keeps them in step.
It may offer less (the app's Stop acts on the answer being written, or else on one's own
waiting question; it offers Regenerate when nothing is being written).
"""

from __future__ import annotations

from core.protocol import AnswerId, AssistantState, ParticipantId

__all__ = ["may_control_answer", "stoppable_answer"]


def may_control_answer(*, host: bool, me: ParticipantId, asked_by: ParticipantId) -> bool:
    """Whether participant ``me`` (the host when ``host``) may stop or regenerate an answer
    to a question ``asked_by`` asked."""
    return host or (bool(me) and me == asked_by)


def stoppable_answer(
    state: AssistantState | None, me: ParticipantId, *, host: bool
) -> AnswerId | None:
    """The answer a Stop acts on for ``me``: the one being written, when we may stop it,
    else our own question still waiting in the queue (stopping it withdraws it); None when
    there is nothing we may stop, or nothing known (``state`` None: not connected)."""
    if state is None or not me:
        return None
    answering = state.answering
    if answering is not None and may_control_answer(host=host, me=me, asked_by=answering.asked_by):
        return answering.answer
    return next((t.answer for t in state.waiting if t.asked_by == me), None)

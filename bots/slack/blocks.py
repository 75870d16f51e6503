"""Block Kit for picks, notices and the Refine… modal.

Action ids are the contract between these messages and the listeners in
``listeners/actions`` and ``listeners/views``; button values carry database ids only, so
a button keeps working after a restart.
"""

from __future__ import annotations

import json

from core.conversation.service import PickView, TurnView

LIKE, DISLIKE, MORE, REFINE = "pick_like", "pick_dislike", "pick_more", "refine_open"
REFINE_VIEW = "refine_submit"
REFINE_BLOCK, REFINE_INPUT = "feedback", "text"
QUICK_BLOCK, QUICK_INPUT = "quick", "options"
# Phrases the feedback parser understands, offered as one-click choices in the modal.
QUICK_OPTIONS = ("calmer", "more energetic", "faster", "slower", "no vocals", "with vocals", "shorter")

MAX_BLOCKS = 50  # Slack's limit per message
MAX_SECTION_CHARS = 3000
MAX_FALLBACK_CHARS = 3000


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS]}


def escape(text: str) -> str:
    """Text from users or the catalog, made inert for mrkdwn (no mentions, no links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def pick_line(p: PickView) -> str:
    """``*1. Title* — Artist · 87% match`` then the facts line, as mrkdwn."""
    who = f" — {escape(p.artist)}" if p.artist else ""
    facts = []
    if p.tags:
        facts.append(" ".join(f"`{escape(t)}`" for t in p.tags[:4]))
    if p.tempo_bpm:
        facts.append(f"{p.tempo_bpm:.0f} bpm")
    facts.append(duration(p.duration_s))
    facts.append(f"licence: {escape(p.licence)}")
    return f"*{p.rank}. {escape(p.title)}*{who} · {p.match_percent}% match\n" + " · ".join(facts)


def _heading(view: TurnView) -> str:
    if view.index == 0:
        return "🎵 Music for your video"
    if view.feedback:
        text = view.feedback if len(view.feedback) <= 150 else view.feedback[:149] + "…"
        return f"🎵 Refined picks for “{text}”"
    return "🎵 More like that"


def turn_message(view: TurnView) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for a turn: its picks with buttons, explanations when
    present, notes, and the Refine… button; or its error when the turn failed."""
    if view.status == "failed":
        text = f"⚠️ {view.error or 'Something went wrong on my side. Please try again.'}"
        return text, [{"type": "section", "text": _mrkdwn(escape(text))}]
    blocks: list[dict] = [{"type": "header", "text": _plain(_heading(view)[:150])}]
    fallback = [_heading(view)]
    writing = bool(view.picks) and not any(p.explanation for p in view.picks) and view.status != "done"
    # A section per pick, a button row per pick while they fit, and header, notes, the
    # "writing…" line and the Refine… row: at most Slack's 50 blocks.
    room_for_buttons = MAX_BLOCKS - 2 - bool(view.notes) - writing - len(view.picks)
    for p in view.picks:
        line = pick_line(p)
        if p.explanation:
            line += f"\n_{escape(p.explanation)}_"
        blocks.append({"type": "section", "block_id": f"pick-{p.pick_id}", "text": _mrkdwn(line)})
        if p.rank <= room_for_buttons:
            blocks.append({"type": "actions", "block_id": f"pick-actions-{p.pick_id}", "elements": [
                {"type": "button", "action_id": LIKE, "value": str(p.pick_id), "text": _plain("👍")},
                {"type": "button", "action_id": DISLIKE, "value": str(p.pick_id), "text": _plain("👎")},
                {"type": "button", "action_id": MORE, "value": str(p.pick_id), "text": _plain("More like this")},
            ]})
        fallback.append(f"{p.rank}. {p.title}" + (f" — {p.artist}" if p.artist else "") + f" ({p.match_percent}%)")
    if view.notes:
        blocks.append({"type": "context", "elements": [_mrkdwn(escape(" ".join(view.notes)))]})
        fallback.append(" ".join(view.notes))
    blocks.append({"type": "actions", "block_id": f"refine-{view.conversation_id}", "elements": [
        {"type": "button", "action_id": REFINE, "value": str(view.conversation_id), "text": _plain("Refine…"),
         "style": "primary"},
    ]})
    if writing:
        blocks.insert(1, {"type": "context", "elements": [_mrkdwn("_Writing why each one fits…_")]})
    return "\n".join(fallback)[:MAX_FALLBACK_CHARS], blocks[:MAX_BLOCKS]


def refine_modal(conversation_id: int, channel: str, thread: str) -> dict:
    """The Refine… modal: free text plus one-click phrases; where to answer rides along."""
    return {
        "type": "modal",
        "callback_id": REFINE_VIEW,
        "private_metadata": json.dumps({"conversation_id": conversation_id, "channel": channel, "thread": thread}),
        "title": _plain("Refine the picks"),
        "submit": _plain("Refine"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": REFINE_BLOCK, "optional": True, "label": _plain("What should change?"),
             "element": {"type": "plain_text_input", "action_id": REFINE_INPUT, "multiline": True,
                         "max_length": 3000,
                         "placeholder": _plain("e.g. calmer, more piano, no vocals, under 2 minutes")}},
            {"type": "input", "block_id": QUICK_BLOCK, "optional": True, "label": _plain("Quick choices"),
             "element": {"type": "checkboxes", "action_id": QUICK_INPUT, "options": [
                 {"text": _plain(o), "value": o} for o in QUICK_OPTIONS]}},
        ],
    }


def refine_text(view: dict) -> str:
    """The feedback a Refine… submission asks for: the typed text and the ticked choices."""
    values = view.get("state", {}).get("values", {})
    typed = (values.get(REFINE_BLOCK, {}).get(REFINE_INPUT, {}) or {}).get("value") or ""
    ticked = [o.get("value", "") for o in
              (values.get(QUICK_BLOCK, {}).get(QUICK_INPUT, {}) or {}).get("selected_options") or []]
    return ", ".join(part for part in [typed.strip(), *ticked] if part)

"""``/musechat help`` and ``/musechat forget-me``."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext, Respond

COMMAND = "/musechat"
HELP = """*MuseChat* suggests music for your videos.
• *Mention me with a video* attached (in a channel or a thread), or *send me a video in a DM*.
• Or pick *Recommend music* from the ⋯ menu of any message that has a video.
I answer in the thread with ranked picks (title, artist, match, tags, tempo, length, licence) and why each fits.
• *Reply in the thread* to refine: "calmer, no vocals", "around 120 bpm", "under 2 minutes".
• Use 👍 / 👎 / *More like this* on a pick, or *Refine…* for a form.
• `/musechat forget-me` deletes your conversations, reactions and the videos only you sent.
• `/musechat help` shows this."""


def musechat(ack: Ack, command: dict, respond: Respond, context: BoltContext) -> None:
    words = (command.get("text") or "").strip().lower().split()
    if words in (["forget-me"], ["forget", "me"], ["forgetme"]):
        ack(text="Deleting your data…")
        bot = context["musechat"]
        bot.intake.submit(bot.intake.forget, respond, command["user_id"])
        return
    unknown = f"I don't know `{' '.join(words)}`.\n\n" if words and words != ["help"] else ""
    ack(text=unknown + HELP)

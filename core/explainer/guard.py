"""Keeping the explainer honest and safe in a public chat.

Two directions:

* In: the user's words are *data*. ``quote_preference`` strips control characters and
  anything that looks like a chat-role marker or special token, removes sentences that
  address the model (instructions, role-play, requests for secrets, links and mentions, in
  English and a dozen other languages, also when spelled with look-alike letters,
  leetspeak or spaced-out letters), masks blocked words and caps the length. The prompt
  then quotes the result between delimiters (and tokenises it with special tokens split,
  see ``core.explainer.model``).
* Out: every generated sentence is checked by ``OutputGuard``: length, no title but the
  track's own (another catalog title in any case or spelling; a name the facts don't
  know, such as "Bohemian Rhapsody", is ``core.explainer.claims``' "unsupported_name"),
  no links (also bare or spelled-out domains), mentions, markup, requests for credentials
  or contact, no prompt leakage or role-play, no profanity, and no claim that contradicts
  the track's facts. A failed check is replaced
  by ``fallback_sentence``, which says only what the facts say, and the replacement is
  flagged.

Every check reads text through one normalisation (``skeleton``: NFKC, invisible characters
removed, look-alike letters mapped to Latin, accents dropped), so "Ｂａｔｔｌｅ", "Ваttle"
and "Bat<U+200B>tle" are all "Battle". The claim vocabulary below is the one place that
decides which words are checkable claims (vocals, tempo, genre, instrument, mood) and
which facts support them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.explainer.facts import TrackFacts, tempo_band
from core.video_facts import VideoFacts

MAX_PREFERENCE_CHARS = 300
MIN_OUTPUT_CHARS = 20
MAX_OUTPUT_CHARS = 400
REMOVED = "[removed]"
# Delimiters around the quoted preference in the prompt; removed from user text so a
# user cannot close the quote themselves.
QUOTE_OPEN, QUOTE_CLOSE = "«", "»"
# Placeholders that mark where the music token and the preference go in a prompt.
MUSIC_SLOT, PREFERENCE_SLOT = "⟦music⟧", "⟦preference⟧"
# Words in a row that an output may share with the prompt's fixed text before it counts
# as reciting it ("why the track fits" is prose, six words of the prompt are not).
ECHO_WORDS = 6


@dataclass(frozen=True)
class Explanation:
    """One pick's explanation; ``fallback`` is True when the model's text was replaced."""

    text: str
    fallback: bool
    failed_checks: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# One normalisation for every check
# --------------------------------------------------------------------------------------

# Letters of other scripts (and Latin ones NFKD does not decompose) that look like a Latin
# letter. NFKC already folds fullwidth, mathematical, circled and small-form letters; this
# covers what it leaves: Cyrillic, Greek and Armenian look-alikes and small capitals.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M",
    "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W",
    "Ӏ": "I", "а": "a", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "о": "o",
    "р": "p", "ѕ": "s", "у": "y", "х": "x", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "ӏ": "l",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ο": "o", "ρ": "p", "ν": "v",
    "ι": "i", "κ": "k", "υ": "u", "ε": "e", "ϲ": "c", "ϳ": "j",
    # Armenian
    "ս": "u", "օ": "o", "հ": "h", "ո": "n", "զ": "q", "ց": "g", "Տ": "S", "Օ": "O", "Ս": "U",
    # Latin letters without a decomposition, and small capitals
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "ı": "i", "ȷ": "j",
    "ɡ": "g", "ɑ": "a", "æ": "ae", "œ": "oe", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o",
    "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # stand-ins for a dot or an apostrophe
    "。": ".", "｡": ".", "’": "'", "‘": "'",
})
_BIDI_AND_FORMAT_KEEP = frozenset({"\u200d"})  # zero-width joiner: part of many emoji


def _strip_controls(text: str, keep: Collection[str] = _BIDI_AND_FORMAT_KEEP) -> str:
    """``text`` without control, format (zero-width, bidi), surrogate and unassigned
    characters except those in ``keep``; line breaks and tabs become newlines."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\r\t":
            out.append("\n")
        elif cat == "Cc" or (cat == "Cf" and ch not in keep) or cat in ("Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def canonical(text: str) -> str:
    """NFKC text without invisible characters (the emoji joiner kept): what a reader sees,
    in one spelling. For text that goes on, such as a quoted preference or a prompt fact."""
    return _strip_controls(unicodedata.normalize("NFKC", text))


def skeleton(text: str) -> str:
    """What ``text`` looks like, in plain letters, for matching only: NFKC, no invisible
    characters at all, look-alike letters mapped to Latin, accents dropped, curly
    apostrophes straightened. Case is kept (titles are matched as written)."""
    text = unicodedata.normalize("NFKD", _strip_controls(unicodedata.normalize("NFKC", text), keep=()))
    text = "".join(ch for ch in text.translate(_CONFUSABLES) if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", text)


# Digits and signs written for letters ("1gn0re", "b!tch"), read as letters only inside a
# word that also has letters, so "120 bpm" and "8-bit" stay as they are.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                       "@": "a", "$": "s", "!": "i", "|": "l"})
_LEET_WORD = re.compile(r"[\w@$!|]*[^\W\d_][\w@$!|]*")
# Three or more single letters with separators: "i g n o r e", "f.u.c.k".
_SPELLED_OUT = re.compile(r"(?<!\w)(?:[^\W\d_][ .\-_*·]+){2,}[^\W\d_](?!\w)")


def _unleet(m: re.Match[str]) -> str:
    word = m.group(0)
    core = word.strip("!|")  # at the edges they are punctuation ("calmer!")
    if not re.search(r"[\d@$!|]", core):
        return word
    start = word.index(core)
    return word[:start] + core.translate(_LEET) + word[start + len(core):]


def _loose(text: str) -> str:
    """The skeleton in lower case, leetspeak read as letters and spelled-out words joined:
    the view in which attacks are looked for."""
    text = _LEET_WORD.sub(_unleet, skeleton(text).casefold())
    return _SPELLED_OUT.sub(lambda m: re.sub(r"[ .\-_*·]+", "", m.group(0)), text)


def _norm(text: str) -> str:
    """The skeleton on one line: how titles, names and claims are compared."""
    return " ".join(skeleton(text).split())


def _phrase_re(phrase: str, case_sensitive: bool = False) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(p) for p in _norm(phrase).split())
    return re.compile(r"(?<!\w)" + body + r"(?!\w)", 0 if case_sensitive else re.IGNORECASE)


# --------------------------------------------------------------------------------------
# What an attack looks like (one set of patterns, for the preference and the output)
# --------------------------------------------------------------------------------------

def _any(*alternatives: str) -> str:
    return r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"


# Latin-script patterns are written without accents and matched in the ``_loose`` view;
# other scripts are matched in the NFKC, lower-cased view.
# Words that address the model's rules or identity. A preference or an explanation of a
# music pick never needs them.
_OVERRIDE = re.compile("|".join([
    # "ignore ..."
    _any(r"ignor(?:e|es|ed|ing)", r"disregard\w*", r"override", r"bypass", r"ignorier\w*", r"missacht\w*",
         r"ignorez", r"ignora(?:r|te)?", r"ignore[mn]", r"negeer\w*", r"(?:z|prze)?ignoruj\w*",
         r"yok\s*say", r"gormezden\s+gel\w*", r"ignorera\w*"),
    r"игнорир\w*|не\s+обращай\s+внимани|ігнору\w*|忽略|忽视|无视|無視|무시",
    # "instructions", "prompt", "rules"
    _any(r"instruct\w*", r"prompts?", r"system\s*(?:message|nachricht|prompt)\w*", r"anweisung\w*",
         r"befehle?n?", r"regeln", r"consignes?", r"regles", r"reglas", r"indicaciones", r"istruzion\w*",
         r"regole", r"instruc(?:ao|oes|ciones?)", r"regras", r"instructies?", r"regels", r"instrukcj\w*",
         r"polecen\w*", r"zasad[ay]?", r"talimat\w*", r"instruktion\w*", r"(?:your|the|previous|above|prior|new)"
         r"\s+rules"),
    r"инструкци\w*|указани\w*|правил(?:а|о|ам|ами|ах)?(?!\w)|промпт\w*|指令|指示|提示词|系统提示|プロンプト|지시",
    # role-play and jailbreaks
    _any(r"you\s+are\s+now", r"you'?re\s+now", r"you\s+are\s+(?:no\s+longer|dan|free)",
         r"pretend\w*", r"role-?\s?play\w*", r"from\s+now\s+on", r"developer\s+mode", r"dan\s+mode",
         r"jailbr[eo]\w*", r"do\s+anything\s+now", r"(?:stay|stays|staying)\s+in\s+character",
         r"as\s+an?\s+(?:ai|language\s+model|chatbot)", r"language\s+model", r"i'?\s*a?m\s+(?:now\s+)?dan",
         r"as\s+dan",
         r"tu\s+so", r"du\s+bist\s+(?:jetzt|nun|ab\s+jetzt|ab\s+sofort)", r"ab\s+(?:jetzt|sofort)\s+bist\s+du",
         r"spiel\w*\s+die\s+rolle", r"rollenspiel\w*", r"verhalte\s+dich", r"von\s+nun\s+an",
         r"fais\s+semblant", r"faites\s+semblant", r"tu\s+es\s+(?:maintenant|desormais)",
         r"a\s+partir\s+de\s+maintenant", r"jou\w*\s+le\s+role", r"agis\s+comme", r"comporte-?\s?toi",
         r"fin(?:ge|ges|gir|ja|jas|gi|ga)", r"ahora\s+eres", r"eres\s+ahora", r"a\s+partir\s+de\s+ahora", r"desde\s+ahora",
         r"actua\s+como", r"juego\s+de\s+rol", r"interpreta\s+(?:el|il|o)\s+(?:papel|ruolo)",
         r"fai\s+finta", r"ora\s+sei", r"sei\s+ora", r"(?:d|da)'?\s*ora\s+in\s+poi", r"agisci\s+come",
         r"comportati\s+come", r"gioco\s+di\s+ruolo", r"faca\s+de\s+conta", r"agora\s+voce\s+e",
         r"voce\s+agora\s+e", r"a\s+partir\s+de\s+agora", r"aja\s+como", r"atue\s+como", r"doe\s+alsof",
         r"je\s+bent\s+nu", r"vanaf\s+nu", r"gedraag\s+je", r"speel\s+de\s+rol", r"rollenspel", r"udawaj\w*",
         r"jestes\s+teraz", r"teraz\s+jestes", r"od\s+teraz", r"zachowuj\s+sie", r"odgrywaj"),
    r"притвор\w*|представь,?\s+что\s+ты|ты\s+теперь|теперь\s+ты|с\s+этого\s+момента|веди\s+себя|"
    r"играй\s+роль|ролев\w*|扮演|假装|从现在开始|ふりをして|になりきって",
]), re.IGNORECASE)

# Requests for secrets or for contact outside the chat (phishing), in any of the languages.
_PHISHING = re.compile("|".join([
    _any(r"passwor[dt]s?", r"passcodes?", r"mot\s+de\s+passe", r"contrasenas?", r"senhas?", r"wachtwoord\w*",
         r"hasl\w+", r"credentials?", r"log-?\s?in\s+(?:details|info\w*|data)", r"api[\s-]?keys?", r"tokens?",
         r"2fa", r"one-?time\s+(?:code|password)", r"verification\s+codes?", r"seed\s+phrase", r"credit\s+card",
         r"card\s+number", r"cvv", r"bank\s+details", r"social\s+security", r"dms?", r"direct\s+messages?",
         r"private\s+messages?", r"pm\s+me", r"(?:message|contact|ping|email|e-mail|text|write\s+to)\s+"
         r"(?:me|us|the\s+(?:admin|mod|owner|staff|team|bot|support)\w*)", r"admins?", r"administrators?", r"moderators?", r"mods", r"nitro",
         r"giveaways?", r"click\s+(?:here|this|the\s+link|below)", r"verify\s+your", r"log\s?in\s+(?:at|on|to|here)",
         r"sign\s?in\s+(?:at|on|to|here)", r"whatsapp", r"telegram", r"crypto\w*", r"bitcoin", r"wallet",
         r"airdrop", r"(?:send|give|tell)\s+(?:me|us|him|her|them)\s+your", r"qr\s+code", r"prizes?",
         r"claim\s+your", r"you(?:'ve)?\s+won"),
    r"парол\w*|пришли|напиши\s+(?:мне|админ)|админ\w*|密码|パスワード",
]), re.IGNORECASE)

# Verbs that tell the model what to write. Only the preference is searched for these: an
# explanation may well "say" things.
_COMMAND = re.compile("|".join([
    _any(r"forget", r"print", r"reveal", r"repeat", r"output", r"dump", r"leak", r"recite", r"say", r"write",
         r"type\s+(?:out|the|your|this|it)", r"spell", r"act\s+as", r"simulate", r"you'?\s*(?:re|are)\s+(?:a|an|my|the)",
         r"du\s+bist", r"tu\s+es", r"eres", r"sei\s+una?", r"voce\s+e", r"j[ie]\s+bent", r"jestes", r"insult", r"curse", r"swear", r"respond", r"reply", r"mention", r"promote",
         r"advertise", r"call\s+me", r"tell\s+(?:me|us|it|this|that)", r"translate",
         r"answer\s+(?:only|with|in|as|like)", r"(?:were|are)\s+you\s+told", r"you\s+(?:were|are)\s+told",
         r"(?:first|previous|earlier|initial|above|hidden)\s+(?:message|text)", r"use\s+the\s+word",
         r"vergiss", r"vergessen", r"verrate\w*", r"enthull\w*", r"wiederhol\w*", r"sag(?:e|t)?", r"schreib\w*",
         r"beleidig\w*", r"nenn\w*\s+mich", r"ausgeben", r"antworte\w*",
         r"oublie\w*", r"revel\w*", r"repet(?:e|es|ez|er)", r"affiche\w*", r"ecri[st]\w*", r"dis-?\s?moi", r"dis\s+que",
         r"insult\w*", r"appelle-?\s?moi", r"repon[ds]\w*",
         r"olvid\w*", r"repit\w*", r"imprim\w*", r"escrib\w*", r"dime", r"di\s+que", r"llamame", r"respond\w*",
         r"dimentic\w*", r"rivela\w*", r"ripet\w*", r"stampa\w*", r"scrivi\w*", r"dimmi", r"chiamami",
         r"rispondi",
         r"esquec\w*", r"repita", r"escrev\w*", r"diga", r"diz\s+que", r"me\s+chame",
         r"vergeet", r"onthul\w*", r"herhaal", r"schrijf", r"zeg", r"beledig\w*", r"noem\s+me", r"antwoord",
         r"zapomnij", r"ujawnij", r"powtorz", r"wypisz", r"napisz", r"powiedz", r"nazwij\s+mnie",
         r"odpowiedz", r"unut", r"glom"),
    r"забудь|раскрой|повтори|выведи|напиши|скажи|оскорби|назови\s+меня|ответь|忘记|输出|重复|忘れ",
]), re.IGNORECASE)

# Links: a scheme, "www", an address, an e-mail, or a domain (written with a dot, with
# "[.]" or "(dot)", or as "evil dot ru") on a known top-level domain; any domain with a path.
_TLDS = (r"com|net|org|edu|gov|io|gg|ly|me|co|app|dev|xyz|info|tv|fm|be|uk|de|ru|su|cn|biz|site|online"
         r"|top|club|shop|store|live|link|click|zip|mov|tk|ml|ga|cf|gq|pw|cc|ws|to|sh|ai|so|us|eu|fr|es|it"
         r"|nl|pl|jp|kr|br|in|au|ca|ch|at|se|no|fi|dk|cz|sk|hu|ro|ua|by|kz|ir|tr|gr|pt|ie|nz|za|mx|ar|cl"
         r"|onion|gl|gd|cx|la|lol|icu|vip|win|work|pro|tech|space|fun|rocks")
_DOT = r"(?:\.|\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s*|\s+(?:dot|punkt|punto|ponto|kropka|точка)\s+)"
_URL_RE = re.compile(
    r"(?<![a-z])(?:https?|hxxps?|ftp|file)\s*(?::|\[:\])\s*/\s*/|(?<![a-z])(?:javascript:|data:[a-z]+/)"
    r"|(?<!\w)www\d?(?!\w)"
    r"|(?<!\w)\d{1,3}(?:\.\d{1,3}){3}(?!\w)"
    rf"|(?<!\w)[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*{_DOT}(?:{_TLDS})(?![a-z])"
    r"|(?<!\w)[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,24}/"
    r"|discord\.gg|t\.me/", re.IGNORECASE)
_MENTION_RE = re.compile(
    r"(?<![\w.])@(?=[^\W\d_])\w+|<[@#][!&]?\w+>|<!(?:here|channel|everyone)[^>]*>|@\s*(?:everyone|here|channel)\b")
# Markup a chat client would render as a link or a page element.
_LINK_MARKUP_RE = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)|<https?:[^>]*>|</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>",
                             re.IGNORECASE)
# ... and the rest of Markdown: code, emphasis, spoilers, headings, quotes.
_MARKUP_RE = re.compile(r"`|\*\*|__|~~|\|\||^\s*(?:#{1,6}|>)\s")
_LEAK_RE = re.compile(
    r"<\||\|>|</?s>|\[/?INST\]|\b(?:USER|ASSISTANT|SYSTEM)\s*:|system\s+prompt|quoted\s+data"
    r"|not\s+instructions|⟦|⟧|" + re.escape(REMOVED), re.IGNORECASE)
# The prompt's field labels: two of them in one output is the prompt recited.
_FIELD_RE = re.compile(r"(?<!\w)(track|title|artist|tags|tempo|vocals|video|music|listener|preference|facts)\s*:",
                       re.IGNORECASE)


@lru_cache(maxsize=2)
def _blocked_words(bounded: bool = True) -> re.Pattern[str]:
    """The blocklist as one pattern for the ``_loose`` view: each letter may repeat
    ("fuuuck") and an inner letter may be masked ("f*ck", "sh#t"). ``bounded=False``
    finds the words inside longer ones too (for letters spelled out and run together)."""
    words = []
    for line in (Path(__file__).with_name("blocklist.txt")).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = skeleton(line).casefold()  # spelled as the ``_loose`` view spells text
        stem, inflected = (line[:-1], True) if line.endswith("*") else (line, False)
        parts = [re.escape(stem[0]) + "+"]
        parts += [f"(?:{re.escape(ch)}+|[*#%])" for ch in stem[1:-1]]
        parts += [re.escape(stem[-1]) + "+"] if len(stem) > 1 else []
        words.append("".join(parts) + (r"\w*" if inflected else ""))
    body = "(?:" + "|".join(words) + ")"
    return re.compile(r"(?<!\w)" + body + r"(?!\w)" if bounded else body, re.IGNORECASE)


def _views(text: str) -> tuple[str, str]:
    """``text`` as read for attacks: (NFKC lower case, for non-Latin scripts; ``_loose``)."""
    return canonical(text).casefold(), _loose(text)


# Spelled-out letters run words together ("ignoreallpreviousinstructions"): in such a run
# these stems are looked for without word boundaries.
_SPELLED_STEMS = re.compile(r"ignor|disregard|instruct|prompt|passw|anweisung|jailbr|pretend|reveal")


def _spelled_out_attack(loose: str) -> bool:
    return any(_SPELLED_STEMS.search(m.group(0)) or _blocked_words(bounded=False).search(m.group(0))
               for m in re.finditer(r"[^\W\d_]{12,}", loose))


def addresses_model(text: str) -> bool:
    """Does ``text`` (one sentence of a preference) try to instruct the model, ask for
    secrets or contact, or carry a link, a mention or markup, in any spelling?"""
    plain, loose = _views(text)
    return (any(p.search(v) for p in (_OVERRIDE, _PHISHING, _COMMAND) for v in (plain, loose))
            or (_SPELLED_OUT.search(skeleton(text).casefold()) is not None and _spelled_out_attack(loose))
            or bool(_URL_RE.search(loose) or _MENTION_RE.search(skeleton(text))
                     or _LINK_MARKUP_RE.search(skeleton(text))))


# --------------------------------------------------------------------------------------
# In: the user's preference as quoted data
# --------------------------------------------------------------------------------------

_SPECIAL_MARKUP = re.compile(
    r"<\|[^|<>]{0,40}\|>\s*(?:system|user|assistant|human|gpt)?"  # ChatML / Llama-3 tokens
    r"|</?s>|\[/?INST\]|<</?SYS>>|<unk>|<pad>"  # Llama / Vicuna
    r"|###\s*(?:instruction|response|system|input|human|assistant)\s*:?",  # Alpaca-style headers
    re.IGNORECASE)
_ROLE_MARKER = re.compile(r"\b(?:system|user|assistant|human|gpt|bot)\s*:", re.IGNORECASE)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？])\s*|\s*\n+\s*")
_TRAILING_PUNCT = re.compile(r"[.,!?;:…]+$")


def _mask_blocked(sentence: str) -> str:
    """``sentence`` with each word the blocklist matches (in any spelling) replaced by
    ``[removed]``; the whole sentence becomes ``[removed]`` when a blocked word is spread
    over several words ("f u c k")."""
    words = []
    for word in sentence.split(" "):
        punct = _TRAILING_PUNCT.search(word)
        core = word[: punct.start()] if punct else word
        if core and _blocked_words().search(_loose(core)):
            word = REMOVED + (punct.group(0) if punct else "")
        words.append(word)
    masked = " ".join(words)
    return REMOVED if _blocked_words().search(_loose(masked)) else masked


def quote_preference(text: str | None, max_chars: int = MAX_PREFERENCE_CHARS) -> str | None:
    """The user's words made safe to quote in a prompt, or None when nothing usable is left.

    Control and bidi characters go, special-token and role markup goes, each sentence that
    addresses the model (``addresses_model``) becomes ``[removed]``, blocked words are
    masked, whitespace is collapsed to one line and the result is capped at ``max_chars``
    characters. Music wishes in any language pass unchanged.
    """
    if not text:
        return None
    text = canonical(text[: max_chars * 20])  # bound the work on huge inputs
    text = _SPECIAL_MARKUP.sub(" ", text)
    text = _ROLE_MARKER.sub(" ", text)
    for ch in (QUOTE_OPEN, QUOTE_CLOSE, "⟦", "⟧", "`"):
        text = text.replace(ch, " ")
    sentences = []
    for sentence in _SENTENCE_SPLIT.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        sentences.append(REMOVED if addresses_model(sentence) else _mask_blocked(sentence))
    text = " ".join(sentences).replace("<", " ").replace(">", " ")
    text = " ".join(text.split())
    # Nothing but removals left: drop the preference, so the prompt is as if none was given.
    if not re.sub(re.escape(REMOVED), "", text).strip(" .,!?;:-…"):
        return None
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return text


def clean_fact(text: str, limit: int = 120) -> str:
    """A catalog string (title, artist, label) fit for a prompt line: one line, no markup
    that could end a turn or a quote, at most ``limit`` characters."""
    text = _SPECIAL_MARKUP.sub(" ", canonical(text))
    for ch in (QUOTE_OPEN, QUOTE_CLOSE, "⟦", "⟧"):
        text = text.replace(ch, " ")
    return " ".join(text.split())[:limit]


# --------------------------------------------------------------------------------------
# Claim vocabulary: which words are checkable, and which facts support them
# --------------------------------------------------------------------------------------

# word in an explanation -> the tags (lower-case, as MTT/MSD taggers spell them) that
# support it. An empty set means no tagger can confirm it, so saying it is unsupported.
_TAG_SUPPORT: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    # genres
    "rock": {"rock", "classic rock", "hard rock", "alternative rock", "indie rock", "progressive rock"},
    "metal": {"metal", "heavy metal"},
    "pop": {"pop", "indie pop"},
    "jazz": {"jazz"}, "jazzy": {"jazz"},
    "blues": {"blues"}, "bluesy": {"blues"},
    "folk": {"folk"}, "country": {"country"}, "punk": {"punk"},
    "funk": {"funk"}, "funky": {"funk"},
    "soul": {"soul", "rnb"}, "soulful": {"soul", "rnb"}, "r&b": {"rnb", "soul"}, "rnb": {"rnb", "soul"},
    "hip-hop": {"hip-hop"}, "hip hop": {"hip-hop"},
    "electronic": {"electronic", "electronica", "electro", "techno", "house", "synth"},
    "electronica": {"electronic", "electronica", "electro"},
    "electro": {"electronic", "electronica", "electro"},
    "techno": {"techno"}, "house": {"house"},
    "dance": {"dance", "party", "house", "techno"},
    "ambient": {"ambient", "chillout", "chill", "new age"},
    "chillout": {"chillout", "chill", "ambient"},
    "classical": {"classical", "classic", "opera", "harpsichord"},
    "orchestral": {"classical", "strings", "violin", "cello"},
    "orchestra": {"classical", "strings", "violin", "cello"},
    "opera": {"opera"}, "operatic": {"opera"},
    "new age": {"new age"},
    "indie": {"indie", "indie rock", "indie pop"},
    "alternative": {"alternative", "alternative rock"},
    "experimental": {"experimental"},
    "acoustic": {"acoustic"},
    "easy listening": {"easy listening"},
    "indian": {"indian", "sitar"},
    "reggae": set(), "disco": set(), "trance": set(), "dubstep": set(), "ska": set(),
    "gospel": set(), "grunge": set(), "swing": set(), "latin": set(), "edm": set(),
    # instruments
    "piano": {"piano"}, "pianos": {"piano"},
    "guitar": {"guitar"}, "guitars": {"guitar"},
    "drums": {"drums", "beat", "beats"}, "drum": {"drums", "beat", "beats"},
    "percussion": {"drums", "beat", "beats"}, "beats": {"beat", "beats", "drums"},
    "strings": {"strings", "violin", "cello", "harp"},
    "violin": {"violin"}, "violins": {"violin"}, "fiddle": {"violin"},
    "cello": {"cello"}, "cellos": {"cello"},
    "harp": {"harp"}, "flute": {"flute"}, "flutes": {"flute"},
    "sitar": {"sitar"}, "harpsichord": {"harpsichord"},
    "synth": {"synth", "electronic", "electro", "techno"},
    "synths": {"synth", "electronic", "electro", "techno"},
    "synthesizer": {"synth", "electronic", "electro", "techno"},
    "synthesizers": {"synth", "electronic", "electro", "techno"},
    "bass": set(), "bassline": set(), "trumpet": set(), "trumpets": set(), "brass": set(),
    "saxophone": set(), "sax": set(), "organ": set(), "banjo": set(), "accordion": set(),
    "bagpipes": set(), "ukulele": set(), "clarinet": set(), "trombone": set(), "horns": set(),
    "xylophone": set(), "marimba": set(),
    # moods the taggers name
    "sad": {"sad"}, "happy": {"happy"}, "beautiful": {"beautiful"}, "catchy": {"catchy"},
    "weird": {"weird"}, "loud": {"loud"}, "quiet": {"quiet"}, "soft": {"soft"},
    "mellow": {"mellow", "chillout", "chill", "soft", "easy listening"},
    "sexy": {"sexy"},
}.items()}

_TEMPO_WORDS: dict[str, str] = {
    **dict.fromkeys(["fast", "fast-paced", "upbeat", "up-tempo", "uptempo", "energetic",
                     "high-energy", "brisk", "quick", "lively", "racing", "frantic", "driving",
                     "faster", "quicker", "livelier", "intense", "punchy"], "fast"),
    **dict.fromkeys(["slow", "slow-paced", "unhurried", "leisurely", "calm", "gentle", "relaxed",
                     "relaxing", "laid-back", "languid", "soothing", "slower", "calmer", "gentler",
                     "peaceful", "serene", "tranquil"], "slow"),
    **dict.fromkeys(["mid-tempo", "midtempo", "moderate", "steady", "medium-paced", "mid-paced"],
                    "moderate"),
}
# Tags that describe the feel directly; they support a tempo word only for a track whose
# tempo is unknown (a known tempo is already reconciled with them: core.catalog.tempo).
_TEMPO_TAGS = {
    "fast": {"fast", "dance", "party", "techno", "house", "metal", "heavy metal", "hard rock", "punk"},
    "slow": {"slow", "soft", "quiet", "mellow", "chillout", "chill", "ambient", "new age",
             "easy listening"},
    "moderate": set(),
}

_VOCAL_WORDS = ["vocal", "vocals", "vocalist", "vocalists", "voice", "voices", "singing", "sung",
                "singer", "singers", "sings", "sing", "lyrics", "lyric", "choir", "choral",
                "chant", "chanting", "rap", "rapping", "rapper", "a cappella"]
_INSTRUMENTAL = re.compile(
    r"\b(?:instrumental|wordless|vocal-free"
    r"|no\s+(?:vocals?|voices?|singing|singers?|lyrics)"
    r"|without\s+(?:any\s+)?(?:vocals?|voices?|singing|singers?|lyrics))\b", re.IGNORECASE)
_NEGATORS = {"not", "no", "without", "never", "nor", "lacks", "lacking", "isn't", "aren't",
             "doesn't", "don't", "isnt", "arent", "doesnt", "dont"}


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(alts) + r")(?![\w-])", re.IGNORECASE)


_TAG_RE = _word_pattern(_TAG_SUPPORT)
_TEMPO_RE = _word_pattern(_TEMPO_WORDS)
_VOCAL_RE = _word_pattern(_VOCAL_WORDS)
_BPM_RE = re.compile(r"\b(\d{2,3}(?:\.\d)?)\s*-?\s*(?:bpm|beats\s+per\s+minute)\b", re.IGNORECASE)
_BY_NAME_RE = re.compile(r"\bby\s+((?:[A-Z0-9][\w'’&.-]*)(?:\s+(?:[A-Z0-9][\w'’&.-]*|of|the|and|de|von|van))*)")


# --------------------------------------------------------------------------------------
# Out: claims and checks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A checkable statement found in an explanation."""

    kind: str  # title | artist | vocals | tempo | bpm | tag (core.explainer.claims adds more)
    text: str  # the words that make the claim
    supported: bool  # do the facts back it?
    value: str = ""  # what is claimed: tempo band, "instrumental"/"vocals", tag word
    negated: bool = False  # "no drums", "not fast"


def _tags_of(facts: TrackFacts) -> set[str]:
    return {t.lower().strip() for t in facts.tags}


def _tag_supported(word: str, facts: TrackFacts) -> bool:
    return bool(_TAG_SUPPORT[word] & _tags_of(facts))


def tag_supports(word: str, facts: TrackFacts) -> bool:
    """Does one of the track's tags back ``word`` (a genre, instrument or mood word; a
    word outside the claim vocabulary needs itself as a tag)?"""
    word = " ".join(word.lower().split())
    return bool(_TAG_SUPPORT.get(word, frozenset({word})) & _tags_of(facts))


def label_names(video: VideoFacts | None) -> list[str]:
    """The confident content labels of a video's facts (none without facts)."""
    return [label.name for label in video.labels] if video is not None else []


def _tempo_supported(band: str, facts: TrackFacts) -> bool | None:
    """True/False, or None when neither the tempo nor the tags tell.

    A known tempo is the reconciled one (core.catalog.tempo): its feel word is what every
    display shows, so a tempo word must be that band — a 130 bpm "ambient" track shown as
    "fast" is never called slow. Tags speak only when the tempo is unknown."""
    if facts.tempo_bpm is not None:
        return tempo_band(facts.tempo_bpm) == band
    if _TEMPO_TAGS[band] & _tags_of(facts):
        return True
    return None


_VERBAL_NEGATORS = {"not", "never", "nor", "lacks", "lacking"}


def _negated(text: str, start: int, verbal_only: bool = False) -> bool:
    """Is the word at ``start`` negated by one of the two words before it, in its clause?"""
    clause = re.split(r"[.;:!?,—]", text[max(0, start - 40):start])[-1]
    before = re.findall(r"[\w']+", clause.lower())[-2:]
    negators = _VERBAL_NEGATORS if verbal_only else _NEGATORS
    return any(w in negators or w.endswith("n't") for w in before)


def _garbled(text: str) -> bool:
    """Undecodable bytes, control characters, or too little text to be a sentence."""
    if any(ch == "\ufffd" or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text):
        return True
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return letters < 0.75 * len(text)


def _repetitive(text: str) -> bool:
    """The same three words three times: a model stuck in a loop."""
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 3 for g in set(grams))


# Words after which a catalog title written in lower case is ordinary prose ("the main
# theme of your video"), not a name.
_DETERMINERS = {"the", "a", "an", "its", "this", "that", "these", "those", "your", "their", "his", "her",
                "our", "my", "some", "any", "no"}
_QUOTED_RE = re.compile(r"[“\"]([^”\"]{1,80})[”\"]")
_LOOK_ALIKE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"}


def _mixed_script(text: str) -> bool:
    """A word spelled with letters of two look-alike scripts ("Ваttle"): a disguise."""
    for word in re.findall(r"\w+", canonical(text)):
        scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in word if ch.isalpha()}
        if len(scripts & _LOOK_ALIKE_SCRIPTS) > 1:
            return True
    return False


def _hidden_characters(text: str) -> bool:
    """Invisible characters (zero-width, bidi overrides): nothing an explanation needs."""
    return any(unicodedata.category(ch) == "Cf" and ch not in _BIDI_AND_FORMAT_KEEP for ch in text)


class OutputGuard:
    """Checks generated explanations against a track's facts and the catalog's titles.

    ``known_titles``: every title in the catalog; naming any track but the explained one
    is a hallucination (or an advert for another pick) and fails the check.
    ``prompt_texts``: the prompt's fixed text (the system prompt); an output that shares
    ``ECHO_WORDS`` words in a row with it is reciting the prompt.
    """

    def __init__(self, known_titles: Collection[str] = (), prompt_texts: Collection[str] = ()):
        # Titles are matched as written: a model naming a track copies its capitals, while
        # "main theme" or "rock" in ordinary prose is not the track "Main Theme" or "Rock".
        # In lower case a title of several words counts too, unless an article makes it
        # prose; a quoted title counts in any case.
        self._titles: dict[str, str] = {}  # normalised title -> title
        self._folded: dict[str, str] = {}  # normalised, case-folded title -> title
        for title in known_titles:
            t = _norm(title)
            if len(t) < 3:
                continue
            self._folded.setdefault(t.casefold(), title)
            if any(ch.isupper() or ch.isdigit() for ch in t):
                self._titles[t] = title  # "A", "II" or all-lower words can't be told from prose
        self._title_re = self._alternation(self._titles, 0)
        self._folded_re = self._alternation([k for k in self._folded if " " in k], re.IGNORECASE)
        self._echo: set[tuple[str, ...]] = set()
        for prompt in prompt_texts:
            words = re.findall(r"\w+", _loose(prompt))
            self._echo |= {tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)}

    @staticmethod
    def _alternation(titles: Iterable[str], flags: int) -> re.Pattern[str] | None:
        alts = sorted((r"\s+".join(re.escape(p) for p in k.split()) for k in titles), key=len, reverse=True)
        return re.compile(r"(?<!\w)(" + "|".join(alts) + r")(?!\w)", flags) if alts else None

    # -- the parts of a text that are about things other than the track -----------------
    @staticmethod
    def _mask(text: str, phrases: Iterable[str], placeholder: str = " § ") -> tuple[str, int]:
        count = 0
        for phrase in sorted({p for p in phrases if p and p.strip()}, key=len, reverse=True):
            text, n = _phrase_re(phrase).subn(placeholder, text)
            count += n
        return text, count

    def _others(self, text: str, facts: TrackFacts, video: VideoFacts | None) -> str:
        """``text`` normalised, with the track's own title and artist and the video's labels masked."""
        return self._mask(_norm(text), [facts.title, facts.artist or "", *label_names(video)])[0]

    def other_titles(self, text: str, facts: TrackFacts, video: VideoFacts | None = None) -> list[str]:
        """Catalog titles other than this track's that ``text`` names, in any spelling."""
        rest = self._others(text, facts, video)
        found = []
        if self._title_re is not None:
            for m in self._title_re.finditer(rest):
                name = _norm(m.group(1))
                before = rest[:m.start()].rstrip()
                quoted = before.endswith(("“", '"', "'"))
                # A one-word title opening a sentence ("Sad and slow, ...") is just a capital.
                if " " not in name and not quoted and (not before or before[-1] in ".!?:;"):
                    continue
                found.append(self._titles[name])
        if self._folded_re is not None:
            for m in self._folded_re.finditer(rest):
                before = re.findall(r"[\w']+", rest[:m.start()].casefold())
                if not before or before[-1] not in _DETERMINERS:
                    found.append(self._folded[_norm(m.group(1)).casefold()])
        for m in _QUOTED_RE.finditer(rest):
            title = self._folded.get(_norm(m.group(1)).strip(" .,!?").casefold())
            if title:
                found.append(title)
        own = _norm(facts.title).casefold()
        return [t for t in dict.fromkeys(found) if _norm(t).casefold() != own]

    def claims(self, text: str, facts: TrackFacts, video: VideoFacts | None = None) -> list[Claim]:
        """Every checkable claim about the track in ``text`` and whether its facts support
        it (``core.explainer.claims`` adds the claims about the video and the request)."""
        text = _norm(text)
        out: list[Claim] = []
        rest, n = self._mask(text, [facts.title], " § ")
        out += [Claim("title", facts.title, True)] * n
        if facts.artist:
            rest, n = self._mask(rest, [facts.artist], " § ")
            out += [Claim("artist", facts.artist, True)] * n
        for t in self.other_titles(text, facts, video):
            out.append(Claim("title", t, False))
        # What the video shows is not a claim about the music ("the boats on screen").
        rest, _ = self._mask(rest, label_names(video), " ¤ ")
        for m in _BY_NAME_RE.finditer(rest):
            out.append(Claim("artist", m.group(1).rstrip(".,;:!?"), False))
        for m in _BPM_RE.finditer(rest):
            bpm = float(m.group(1))
            ok = facts.tempo_bpm is not None and abs(bpm - facts.tempo_bpm) <= 3.0
            out.append(Claim("bpm", m.group(0), ok))

        def instrumental_claim(words: str, says_instrumental: bool) -> None:
            ok = facts.instrumental is not None and facts.instrumental == says_instrumental
            out.append(Claim("vocals", words, ok, "instrumental" if says_instrumental else "vocals"))

        for m in _INSTRUMENTAL.finditer(rest):
            instrumental_claim(m.group(0), not _negated(rest, m.start(), verbal_only=True))
        rest = _INSTRUMENTAL.sub(" ", rest)
        for m in _VOCAL_RE.finditer(rest):
            instrumental_claim(m.group(0), _negated(rest, m.start()))
        for m in _TEMPO_RE.finditer(rest):
            band = _TEMPO_WORDS[m.group(1).lower()]
            ok = _tempo_supported(band, facts)
            negated = _negated(rest, m.start())
            if negated:
                ok = None if ok is None else not ok
            # A tempo word that is also one of the track's tags ("slow") is supported by it.
            out.append(Claim("tempo", m.group(0), bool(ok) or m.group(1).lower() in _tags_of(facts), band, negated))
        for m in _TAG_RE.finditer(rest):
            word = _norm(m.group(1)).lower()
            ok = _tag_supported(word, facts)
            negated = _negated(rest, m.start())
            if negated:
                ok = not ok
            out.append(Claim("tag", m.group(0), ok, word, negated))
        return out

    def _recites_prompt(self, view: str, loose: str) -> bool:
        if _LEAK_RE.search(view):
            return True
        if len({f.casefold() for f in _FIELD_RE.findall(view)}) >= 2:  # "Track: … Tempo: …"
            return True
        words = re.findall(r"\w+", loose)
        return any(tuple(words[i:i + ECHO_WORDS]) in self._echo for i in range(len(words) - ECHO_WORDS + 1))

    def check(self, text: str, facts: TrackFacts, video: VideoFacts | None = None,
              preference: str | None = None) -> list[str]:
        """Names of the failed checks ([] = fine to show). ``video``: the video's measured
        facts (None: the text may say nothing about the video); ``preference``: the
        conversation's request, which the text may neither misquote nor contradict."""
        failed = []
        stripped = text.strip()
        view = _norm(stripped)
        plain, loose = _views(stripped)
        if len(stripped) < MIN_OUTPUT_CHARS or len(stripped.split()) < 4:
            failed.append("too_short")
        if len(stripped) > MAX_OUTPUT_CHARS:
            failed.append("too_long")
        if stripped and stripped[-1] not in ".!?…”\"":
            failed.append("unfinished")  # cut off by the token bound
        if _garbled(stripped):
            failed.append("garbled")
        if _repetitive(stripped):
            failed.append("repetitive")
        if _hidden_characters(stripped) or _mixed_script(stripped):
            failed.append("disguised")
        if self.other_titles(stripped, facts, video):
            failed.append("other_title")
        if _URL_RE.search(loose):
            failed.append("url")
        if _MENTION_RE.search(view):
            failed.append("mention")
        if _LINK_MARKUP_RE.search(view):
            failed.append("markdown_link")
        if _MARKUP_RE.search(view):
            failed.append("markup")
        if self._recites_prompt(view, loose):
            failed.append("prompt_leak")
        if _OVERRIDE.search(plain) or _OVERRIDE.search(loose):
            failed.append("instruction")
        if _PHISHING.search(plain) or _PHISHING.search(loose):
            failed.append("phishing")
        # Profanity in the track's own title or a label is not the model's doing.
        if _blocked_words().search(_loose(self._others(stripped, facts, video))):
            failed.append("profanity")
        from core.explainer.claims import verify  # builds on this module's claims

        # "contradiction" (the track's facts), "video_claim", "request_claim",
        # "contradicts_request", "unsupported_name", "unsupported_number".
        # The request as the prompt saw it: a sentence that addresses the model is no wish.
        failed += verify(stripped, facts, video, quote_preference(preference), self).failed_checks()
        return failed

    def apply(self, text: str, facts: TrackFacts, video: VideoFacts | None = None,
              preference: str | None = None) -> Explanation:
        """The text if every check passes, else the factual fallback, flagged."""
        text = " ".join(text.split())
        preference = quote_preference(preference)  # the request as the prompt saw it
        failed = self.check(text, facts, video, preference)
        if failed:
            return Explanation(fallback_sentence(facts, video, preference), True, tuple(failed))
        return Explanation(text, False)


# --------------------------------------------------------------------------------------
# The fallback: only what the facts say
# --------------------------------------------------------------------------------------

_BAND_WORD = {"slow": "slow", "moderate": "mid-tempo", "fast": "fast"}


# Tagger outputs that are evidence for a voice rather than descriptions of the music.
_NOT_DESCRIPTIVE = {"male", "female", "woman", "man", "solo"}


def describable_tags(facts: TrackFacts, k: int = 3) -> list[str]:
    """Up to ``k`` of the track's tags worth saying: not about vocals (the vocals fact says
    that), not a tempo word when the tempo is known (the tempo phrase says that)."""
    out = []
    for tag in facts.tags:
        t = tag.strip().lower()
        if not t or t in _NOT_DESCRIPTIVE or _VOCAL_RE.search(t) or _INSTRUMENTAL.search(t):
            continue
        if facts.tempo_bpm is not None and _TEMPO_RE.fullmatch(t):
            continue
        out.append(tag)
        if len(out) == k:
            break
    return out


def tempo_phrase(facts: TrackFacts) -> str | None:
    band = tempo_band(facts.tempo_bpm)
    if band is None:
        return None
    return f"{_BAND_WORD[band]} at about {round(facts.tempo_bpm)} BPM"


def fallback_sentence(facts: TrackFacts, video: VideoFacts | None = None, preference: str | None = None) -> str:
    """A short sentence built only from the facts (always passes ``OutputGuard.check``):
    the track's facts, and the video's first measured statements when there are facts.
    A fact that goes against the request in ``preference`` ("slow" after "faster please")
    is left out rather than praised."""
    from core.explainer.claims import goes_against

    head = f"“{facts.title}”" + (f" by {facts.artist}" if facts.artist else "")
    desc = []
    tags = describable_tags(facts)
    if tags:
        desc.append(", ".join(tags))
    tempo = tempo_phrase(facts)
    if tempo:
        desc.append(tempo)
    if facts.instrumental is not None:
        desc.append("instrumental" if facts.instrumental else "with vocals")
    desc = [d for d in desc if not goes_against(d, facts, preference)]
    said = ", ".join(video.statements()[:2]) if video is not None else ""
    scene = f"a match for your video ({said})" if said else "a match for your video"
    if desc:
        return f"{head}: {'; '.join(desc)} — {scene}."
    return f"{head} is {scene}."


__all__ = [
    "Claim", "Explanation", "OutputGuard", "fallback_sentence", "label_names", "quote_preference", "tag_supports",
    "addresses_model",
    "canonical", "skeleton", "clean_fact", "describable_tags", "tempo_phrase", "MUSIC_SLOT", "PREFERENCE_SLOT", "QUOTE_OPEN", "QUOTE_CLOSE",
]

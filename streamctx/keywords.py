"""Keywords and coarse topics for the rolling transcript window.

Keywords come from YAKE (statistical, offline, no model download): on a 45 s streamer transcript
it takes ~5 ms of CPU and ranks real keyphrases ("boss fight", "low health", "Dragon Lord") above the
chatter a hand-rolled term-frequency count favours. Streamer speech needs more than YAKE's
English stopword list, so filler ("gonna", "chat", "guys", "yeah") is added to it, which also
stops filler from gluing phrases together ("chat boss"). The result is then filtered (no numbers,
no words under three letters) and de-duplicated: no "boss" next to "boss fight", and no
two phrases about the same word ("risky fireball", "fireball skip"), so eight slots say eight things.

Topics are a small curated lexicon: transparent, cheap, and easy for a moderator to reason about.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import yake

__all__ = ["TOPICS", "extract_keywords", "topics_for"]

MAX_TOPICS = 4

FILLER = frozenset(
    """
    like gonna wanna gotta kinda sorta okay ok yeah yep yup yes nope nah chat chatter guys guy um umm
    uh uhh uhm hmm huh oh ooh ah ahh wow whoa really right alright lol lmao haha hahaha literally
    basically actually totally pretty maybe probably definitely honestly seriously super finally
    stuff thing things lot lots dude bro man folks everyone everybody y'all stream streaming
    let's lets i'm it's that's we're you're he's she's they're i've we've you've i'll we'll i'd
    don't can't didn't won't isn't wasn't aren't doesn't there's here's what's
    going got get gets getting know think mean look see want need make say says said thank thanks
    one two three four five six seven eight nine ten eleven twelve hundred thousand
    today tonight now time way kind sort bit little real quick good great nice cool god gosh omg
    """.split()
)

# YAKE's own English list (read once from the installed package) plus streamer filler.
_STOPWORDS = frozenset(yake.KeywordExtractor(lan="en").stopword_set) | FILLER

_LAUGHTER_AND_TAGS = re.compile(r"[\[(*][^\])*]{1,30}[\])*]|\ba?h[ae]+(?:h[ae]+)+h?\b", re.IGNORECASE)
_TOKEN_OK = re.compile(r"^[a-z][a-z0-9'%-]*$|^[0-9]+[a-z][a-z0-9]*$")  # "speedrun", "1v3", "any%"
_CANDIDATES_PER_KEYWORD = 5


def extract_keywords(text: str, *, top_n: int = 8) -> list[str]:
    """Up to `top_n` lowercase keywords or two-word keyphrases, best first. Same text, same list."""
    cleaned = _LAUGHTER_AND_TAGS.sub(" ", text)
    if top_n <= 0 or not re.search(r"[A-Za-z]{3}", cleaned):
        return []
    # A fresh extractor per call: YAKE keeps a per-instance similarity cache that is not
    # thread-safe, and building one with our stopwords takes microseconds.
    extractor = yake.KeywordExtractor(lan="en", n=2, top=top_n * _CANDIDATES_PER_KEYWORD, stopwords=set(_STOPWORDS))
    ranked = sorted(extractor.extract_keywords(cleaned), key=lambda pair: (pair[1], pair[0].lower()))

    chosen: list[str] = []
    passed_over: set[str] = set()  # words of phrases skipped as repeats; alone they say even less
    for candidate, _score in ranked:
        phrase = _normalise(candidate)
        if phrase is None:
            continue
        words = phrase.split()
        if any(_same(phrase, kept) for kept in chosen):
            continue
        if len(words) == 1:
            if _stem(phrase) in passed_over or any(_covers(kept, phrase) for kept in chosen):
                continue  # "boss" when "boss fight" is already there
            chosen.append(phrase)
        else:
            covered = [i for i, kept in enumerate(chosen) if len(kept.split()) == 1 and _covers(phrase, kept)]
            if covered:
                # The phrase says more than the word it contains: it takes the word's place.
                chosen[covered[0]] = phrase
                for i in reversed(covered[1:]):
                    del chosen[i]
            elif any(len(kept.split()) == 2 and _overlaps(phrase, kept) for kept in chosen):
                passed_over.update(_stem(w) for w in words)
                continue  # "fireball skip" after "risky fireball": one slot per subject
            else:
                chosen.append(phrase)
        if len(chosen) >= top_n:
            break
    return chosen[:top_n]


def _normalise(candidate: str) -> str | None:
    words = [w.strip(".,!?;:\"'()") for w in candidate.lower().split()]
    if not words or any(not w or w in _STOPWORDS or not _TOKEN_OK.match(w) for w in words):
        return None
    if len(words) == 1 and len(words[0]) < 3:
        return None
    if any(len(w) < 2 for w in words) or all(len(w) < 3 for w in words):
        return None  # "low hp" stays; "a b" and "hp" alone do not
    return " ".join(words)


def _stem(word: str) -> str:
    """Just enough to see "potion" and "potions" as one word."""
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _same(a: str, b: str) -> bool:
    return [_stem(w) for w in a.split()] == [_stem(w) for w in b.split()]


def _covers(phrase: str, word: str) -> bool:
    return _stem(word) in {_stem(w) for w in phrase.split()}


def _overlaps(a: str, b: str) -> bool:
    return bool({_stem(w) for w in a.split()} & {_stem(w) for w in b.split()})


# --- topics ----------------------------------------------------------------------------------

TOPICS: dict[str, frozenset[str]] = {
    "gaming": frozenset({
        "game", "gaming", "gamer", "level", "player", "controller", "respawn", "checkpoint", "quest",
        "loot", "inventory", "xp", "hp", "health", "potion", "spawn", "npc", "dungeon", "achievement",
        "playthrough", "gameplay", "dlc", "console", "enemy", "enemies", "weapon", "sword", "armor",
        "skill tree", "crafting", "multiplayer", "co-op", "lobby", "save file", "parry", "dodge",
        "combo", "jump", "ledge", "boss", "run", "speedrun", "clip", "mob", "grind", "lives",
    }),
    "boss_fight": frozenset({
        "boss", "boss fight", "final boss", "boss rush", "mini boss", "miniboss", "second phase",
        "phase two", "phase three", "health bar", "raid boss", "enrage", "attack pattern", "hammer",
        "shockwave", "parry", "arena",
    }),
    "speedrun": frozenset({
        "speedrun", "speedrunning", "speedrunner", "personal best", "pb", "world record", "wr",
        "split", "splits", "timer", "any%", "glitch", "skip", "route", "reset", "frame perfect",
        "clip", "wall clip", "sub", "category", "igt", "rta",
    }),
    "music": frozenset({
        "music", "song", "playlist", "beat", "melody", "guitar", "piano", "drums", "bass", "sing",
        "singing", "lyrics", "album", "track", "band", "concert", "chorus", "vocals", "dj", "remix",
        "tune", "soundtrack", "banger", "ost",
    }),
    "food": frozenset({
        "food", "eat", "eating", "cook", "cooking", "recipe", "pizza", "snack", "dinner", "lunch",
        "breakfast", "taste", "delicious", "spicy", "kitchen", "coffee", "chicken", "sauce", "bake",
        "baking", "burger", "ramen", "sushi", "mukbang", "hungry",
    }),
    "tech": frozenset({
        "code", "coding", "programming", "programmer", "bug", "debug", "computer", "gpu", "cpu",
        "software", "hardware", "python", "javascript", "server", "app", "keyboard", "monitor",
        "obs", "fps", "lag", "ping", "latency", "internet", "install", "linux", "windows", "api",
        "database", "pc build", "overclock",
    }),
    "sports": frozenset({
        "football", "soccer", "basketball", "baseball", "hockey", "tennis", "goal", "league",
        "season", "playoffs", "championship", "referee", "coach", "striker", "touchdown", "penalty",
        "home team", "away team", "world cup", "premier league", "match day",
        "stadium", "fifa", "nba", "nfl",
    }),
    "chatting": frozenset({
        "just chatting", "how was your day", "how are you", "how's everyone", "story time", "q&a",
        "subscribe", "subscriber", "follower", "donation", "thanks for the", "weekend",
        "talk about", "irl", "life update", "vacation",
    }),
    "horror": frozenset({
        "horror", "scary", "creepy", "jumpscare", "jump scare", "ghost", "monster", "haunted",
        "scream", "terrifying", "spooky", "zombie", "demon", "nightmare", "dark room", "flashlight",
    }),
    "strategy": frozenset({
        "strategy", "plan", "build order", "economy", "resources", "macro", "micro", "rotate",
        "position", "upgrade", "tech tree", "units", "army", "expand", "defend", "tactic", "tactics",
        "risky", "safe", "decision", "choose",
    }),
    "pvp": frozenset({
        "pvp", "1v1", "1v2", "1v3", "1v4", "duel", "enemy team", "opponent", "ranked", "kill", "kills",
        "frag", "headshot", "clutch", "squad", "battle royale", "elo", "matchmaking", "versus",
        "deathmatch", "teammate", "teammates",
    }),
}

_KEYWORD_WEIGHT = 2  # a trigger among the window's keywords counts more than a passing mention
_MIN_STRENGTH = 2  # one passing mention alone is not a topic


def _topic_pattern(triggers: frozenset[str]) -> re.Pattern[str]:
    # Longest first, so "boss fight" is one hit and not "boss" then nothing.
    alternatives = "|".join(re.escape(t) for t in sorted(triggers, key=lambda t: (-len(t), t)))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?:s|es)?(?![\w-])", re.IGNORECASE)


_TOPIC_PATTERNS = {topic: _topic_pattern(triggers) for topic, triggers in TOPICS.items()}


def topics_for(*, text: str, keywords: Sequence[str]) -> list[str]:
    """Up to four topics from `TOPICS`, strongest first. Strength is the number of trigger
    mentions in the text plus two for each keyword that contains a trigger; a topic needs at
    least two (a keyword hit, or two mentions). Ties go alphabetically, so the order is stable."""
    strengths: list[tuple[int, str]] = []
    for topic, pattern in _TOPIC_PATTERNS.items():
        strength = len(pattern.findall(text)) + _KEYWORD_WEIGHT * sum(1 for k in keywords if pattern.search(k))
        if strength >= _MIN_STRENGTH:
            strengths.append((strength, topic))
    strengths.sort(key=lambda pair: (-pair[0], pair[1]))
    return [topic for _, topic in strengths[:MAX_TOPICS]]

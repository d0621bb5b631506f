"""Noun phrases the offline cast may say: taken from the stream's keywords, an event's evidence or a
viewer's question, and validated before they fill a slot.

A slot in a bark line wants a thing ("that {np} was clean"), so a filler must be a noun phrase: one to
three words, the last a noun, the others nouns or adjectives, none a stop word, a bare verb or an
adverb. Parts of speech come from lemminflect's lexicon (it ships its data in the wheel, nothing is
downloaded); a word the lexicon does not know ("speedrun", "shockwave") passes when it does not look
like a verb or adverb form. What fails never fills a slot: the line falls back to one without a slot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import lemminflect

from chatter_site.lib.offline_llm.prompt import STEERING_WORDS, STOPWORDS

# Words that are nouns on a stream even though the lexicon also files them as adjectives or adverbs.
STREAM_NOUNS = frozenset(
    "level split trick boss run jump clutch parry skip clip dodge route reset phase wipe ledge hammer "
    "attempt combo crit ult raid loot gold pb wr hp speedrun game change tech movement practice music soundtrack track "
    "cutscene lore theory snack bassline tempo drop chorus".split()
)
# Nouns too vague to carry a line ("that time was clean").
VAGUE_NOUNS = frozenset(
    "time thing things way stuff lot bit day today tonight people guy guys something anything nothing everything "
    "someone anyone everyone part kind sort end start moment minute second seconds yes no chat stream viewer "
    "viewers question answer point case fact idea reason number one ones".split()
)
# Modifiers that describe rather than name ("the best route"); "hardest" and the like by _superlative.
SUPERLATIVES = frozenset("best worst most least".split())
# Parts of a game that need a name to mean anything: "the second phase" fills a slot, "the phase" does not.
VAGUE_ALONE = frozenset("phase section area stage level zone round wave route path split".split())
# Closed-class and filler words the lexicon may still tag as nouns or adjectives.
EXTRA_STOPWORDS = frozenset(
    "gonna wanna gotta ok okay alright yeah yep nope hey hi hello please thanks thank welcome whatever "
    "another every each many much few several enough such own same other others next last first "
    "sure vs versus via per haha hahaha lol lmao omg wow oops ugh".split()
)
# Typed slots: a phrase's kind is its head noun's kind in HEAD_KINDS (extend a kind by adding a word); a
# head in none is "any" and fits only {np}. SLOT_KINDS says which kinds each bank slot takes.
HEAD_KINDS: dict[str, frozenset[str]] = {
    "place": frozenset(
        "level cavern cave area stage section phase arena room world zone map dungeon castle temple tower forest "
        "bridge floor ledge platform city village swamp desert mountain chamber hall rush route split path".split()
    ),
    "move": frozenset(
        "clip skip parry jump dodge boost trick combo tech strat strategy glitch slide dash setup throw shot hit "
        "roll block counter grab zip warp cycle backflip wallclip".split()
    ),
    "thing": frozenset(
        "hammer shockwave fireball sword shield door mural crystal wall statue chest potion weapon bow trap lava spikes "
        "orb boulder item rune runes key relic crown banner".split()
    ),
    "creature": frozenset("boss enemy dragon monster knight king golem miniboss guard beast".split()),
    "music": frozenset("music theme track song soundtrack bassline melody tune beat drop chorus".split()),
    "moment": frozenset("moment fail clutch attempt run reset wipe death save comeback".split()),
}
# Words naming the stream's genre, not a thing in it: as a head ("rush speedrun") they fill no slot.
GENRE_HEADS = frozenset("speedrun speedruns stream streams playthrough gameplay walkthrough marathon category game".split())
SLOT_KINDS: dict[str, frozenset[str]] = {
    "place": frozenset({"place"}),
    "move": frozenset({"move"}),
    "thing": frozenset({"thing"}),
    "creature": frozenset({"creature"}),
    "music": frozenset({"music"}),
    "moment": frozenset({"moment"}),
    "spot": frozenset({"move", "place"}),  # a named part of the run: where or how time is won or lost
    "foe": frozenset({"thing", "creature"}),  # what acts on the runner
    "object": frozenset({"thing", "place", "creature"}),  # what is met, survived or looked at
    "named": frozenset({"move", "place", "thing", "creature"}),  # any concrete part of the game
    "act": frozenset({"move", "moment", "thing", "creature"}),  # what happens or is funny: a place is neither
}
DETERMINERS = frozenset("the a an this that these those my your our his her their its some any".split())
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass(frozen=True)
class NounPhrase:
    text: str  # lowercase, without a determiner
    plural: bool = False

    @property
    def words(self) -> list[str]:
        return self.text.split()

    @property
    def kind(self) -> str:
        """The head noun's kind (HEAD_KINDS), or "any"."""
        head = self.words[-1]
        return next((kind for kind, heads in HEAD_KINDS.items() if head in heads), "any")

    def fits(self, slot: str) -> bool:
        """Whether this phrase may fill the slot: {np} takes any kind, the others their kinds, never a plural."""
        if slot == "np":
            return True
        return not self.plural and self.kind in SLOT_KINDS.get(slot, frozenset())


@lru_cache(maxsize=4096)
def _readings(word: str) -> dict[str, tuple[str, ...]]:
    return lemminflect.getAllLemmas(word)


def _superlative(word: str) -> bool:
    """"hardest", "latest": an adjective's -est form (not "forest", whose lemma is itself)."""
    return word.endswith("est") and any(lemma != word for lemma in _readings(word).get("ADJ", ()))


def _looks_inflected(word: str) -> bool:
    return word.endswith(("ly", "ing", "ed")) and len(word) > 4


def _modifier_ok(word: str) -> bool:
    if word in STREAM_NOUNS:
        return True
    readings = _readings(word)
    if not readings:
        return not _looks_inflected(word)
    if "ADV" in readings and "NOUN" not in readings and "ADJ" not in readings:
        return False
    return "NOUN" in readings or "ADJ" in readings


def _head(word: str, *, alone: bool, topic: bool = False) -> NounPhrase | None:
    """The phrase's last word as a noun, with its number; None when it is not one."""
    if word in VAGUE_NOUNS or alone and word in VAGUE_ALONE:
        return None
    if word in STREAM_NOUNS:
        return NounPhrase(word)
    readings = _readings(word)
    if not readings:
        plural = word.endswith("s") and len(word) > 3 and not word.endswith("ss")
        if _looks_inflected(word) or plural and not topic:
            return None  # an unknown "-s" word may as well be a verb (a card's topic is a thing by definition)
        return NounPhrase(word, plural=plural)
    nouns = readings.get("NOUN")
    if not nouns or "ADV" in readings:
        return None
    if "ADJ" in readings and (alone or word in readings["ADJ"]):
        return None  # "classic", "safe", "frame perfect": adjectives more often than things
    plural = word not in nouns
    if plural and not topic and word in {inflected for lemma in readings.get("VERB", ()) for inflected in (lemma + "s", lemma + "es")}:
        return None  # "works", "hits": as likely a verb as a plural
    if plural and _looks_inflected(word):
        return None
    return NounPhrase(word, plural=plural)


def noun_phrase(text: str, *, topic: bool = False) -> NounPhrase | None:
    """`text` as a validated noun phrase (a leading determiner dropped), or None. A `topic` (a
    persona card's loved or hated topic) may be a plural that is also a verb form ("boss fights")."""
    words = [w.lower().strip("'-") for w in WORD_RE.findall(text or "")]
    if words and words[0] in DETERMINERS:
        words = words[1:]
    if not 1 <= len(words) <= 3 or len(" ".join(words)) > 30:
        return None
    banned = STOPWORDS | EXTRA_STOPWORDS | STEERING_WORDS | DETERMINERS
    if any(len(w) < 2 or w in banned or not w.isalpha() for w in words):
        return None
    if len(words) == 1 and len(words[0]) < 3 and words[0] not in STREAM_NOUNS:
        return None
    head = _head(words[-1], alone=len(words) == 1, topic=topic)
    if head is None or not all(_modifier_ok(w) for w in words[:-1]):
        return None
    return NounPhrase(" ".join(words), plural=head.plural)


def phrases_in(text: str) -> list[NounPhrase]:
    """Noun phrases a sentence names with a determiner ("the fireball skip", "this music"), in order."""
    tokens = [w.lower() for w in WORD_RE.findall(text or "")]
    found: list[NounPhrase] = []
    for index, token in enumerate(tokens):
        if token not in DETERMINERS:
            continue
        # The longest run after the determiner that is still a noun phrase: "the risky fireball skip" → 3 words.
        for length in (3, 2, 1):
            chunk = tokens[index + 1 : index + 1 + length]
            if len(chunk) < length:
                continue
            phrase = noun_phrase(" ".join(chunk))
            if phrase is not None:
                if phrase not in found:
                    found.append(phrase)
                break
    return found


def names_a_thing(phrase: NounPhrase) -> bool:
    """A slot wants a name: not the stream's genre ("rush speedrun") nor a description ("the hardest trick")."""
    return phrase.words[-1] not in GENRE_HEADS and not any(w in SUPERLATIVES or _superlative(w) for w in phrase.words[:-1])


def specific(phrase: NounPhrase) -> bool:
    """A keyword alone names a thing on stream when it is a compound, stream jargon, or a word the
    general lexicon does not know ("speedrun"); "silence" or "health" alone could be about anything.
    (A phrase the streamer said with a determiner, "the ledge", needs no such check.)"""
    words = phrase.words
    return len(words) > 1 or words[0] in STREAM_NOUNS or not _readings(words[0])


def phrases_from(*, keywords: list[str], evidence: str = "", prefer_evidence: bool = False) -> list[NounPhrase]:
    """Slot fillers for this moment: keywords that are noun phrases, and the evidence's own phrases.

    With `prefer_evidence`, what the streamer just said comes first (an event's line); phrases both
    sources share lead either way.
    """
    from_keywords = [p for p in (noun_phrase(k) for k in keywords) if p is not None and specific(p) and names_a_thing(p)]
    from_evidence = [p for p in phrases_in(evidence) if names_a_thing(p)]
    shared = [p for p in from_evidence if any(p.text == k.text or p.text in k.text or k.text in p.text for k in from_keywords)]
    ordered = shared + (from_evidence + from_keywords if prefer_evidence else from_keywords + from_evidence)
    seen: set[str] = set()
    unique = []
    for phrase in ordered:
        if phrase.text not in seen:
            seen.add(phrase.text)
            unique.append(phrase)
    return unique

"""Typed slots in the offline cast's lines: a slot is filled only with a phrase of the kind it wants
(phrases.py's HEAD_KINDS and SLOT_KINDS), catchphrases are never spliced into a line, and offline
narratives close on what their facts are and name everyone they cite."""
from __future__ import annotations

import random
import re

import pytest

from chatter_site.lib.offline_llm.banks import DEMO_BANKS
from chatter_site.lib.offline_llm.chat import SLOT_RE, Situation, compose_chat_line, respond
from chatter_site.lib.offline_llm.generic_banks import GENERIC_BANKS
from chatter_site.lib.offline_llm.json_tasks import compose_json
from chatter_site.lib.offline_llm.phrases import SLOT_KINDS, noun_phrase, phrases_from
from chatter_site.lib.offline_llm.voice import voice_from_card
from personas.demo_cast import DEMO_CAST
from tests.test_offline_cast import card_of, messages, narrative_request

SPECS = {spec["handle"]: spec for spec in DEMO_CAST}
PHRASES_OF_KIND = {
    "place": ["ice cavern", "boss rush", "second phase", "ledge"],
    "move": ["fireball skip", "dodge", "wall clip", "risky skip"],
    "thing": ["big hammer", "shockwave", "rune"],
    "creature": ["boss", "ice dragon"],
    "music": ["music", "boss theme"],
    "moment": ["clutch", "clean attempt"],
    "any": ["low health"],
}
VALUE_SLOTS = {"pct", "n", "n2", "d", "secs", "frames", "score", "topic", "hated", "q", "vocab", "np"}
CONCEPTS = ("clutch", "fail", "big_laugh", "chat_question", "scene_change", "chat_spike", "idle", "greet")


def lines(handle: str, *, kind: str, evidence: str, keywords: list[str], n: int = 40, card: dict | None = None,
          reply: dict | None = None) -> list[str]:
    card = card or card_of(SPECS[handle])
    return [compose_chat_line(messages(card=card, keywords=keywords, evidence=evidence, kind=kind, moment=True, reply=reply,
                                       chat=[{"author": "x", "text": f"seed {i}"}])) for i in range(n)]


def test_each_phrase_has_the_kind_of_its_head_noun() -> None:
    for kind, texts in PHRASES_OF_KIND.items():
        for text in texts:
            phrase = noun_phrase(text)
            assert phrase is not None and phrase.kind == kind, (text, phrase)


def test_a_stream_genre_word_as_head_fills_no_slot() -> None:
    assert [p.text for p in phrases_from(keywords=["rush speedrun", "speedrun", "ice cavern"], evidence="the rush speedrun")] == ["ice cavern"]


def test_every_slot_in_every_bank_is_a_known_kind() -> None:
    banks = list(DEMO_BANKS.values()) + list(GENERIC_BANKS.values())
    slots = {slot for bank in banks for templates in bank.values() for t in templates for slot in SLOT_RE.findall(t)}
    assert slots <= VALUE_SLOTS | set(SLOT_KINDS), slots - VALUE_SLOTS - set(SLOT_KINDS)


@pytest.mark.parametrize("handle", sorted(SPECS) + ["ModeratorMia", "TerseTom", "LongLinda"])
def test_no_slot_is_filled_with_a_phrase_of_the_wrong_kind(handle) -> None:
    styles = {"ModeratorMia": "casual, 6 to 14 words", "TerseTom": "terse, 2 to 5 words", "LongLinda": "complete sentences, 15 to 30 words"}
    card = card_of(SPECS[handle]) if handle in SPECS else {"handle": handle, "style": styles[handle], "emotes": [], "catchphrases": []}
    voice = voice_from_card(card)
    rng = random.Random(7)
    for kind, texts in PHRASES_OF_KIND.items():
        for text in texts:
            phrase = noun_phrase(text)
            assert phrase is not None
            for concept in CONCEPTS:
                for _ in range(6):
                    situation = Situation(concept=concept, phrases=[phrase], name_it=concept != "greet" and concept != "idle")
                    template, _line = respond(handle=handle, situation=situation, voice=voice, rng=rng, memory=None, avoid=set())
                    for slot in set(SLOT_RE.findall(template)) & set(SLOT_KINDS):
                        assert kind in SLOT_KINDS[slot], (handle, concept, template, text)


@pytest.mark.parametrize(("handle", "kind", "evidence", "keywords", "bad"), [
    ("GrumpyGramps", "scene_change", "what a dodge", ["dodge"], r"dodge had no checkpoints"),
    ("LoreGoblin", "clutch", "the second phase is here", ["second phase"], r"phase glowed"),
    ("FrameDataFelix", "fail", "the rush speedrun is over", ["rush speedrun"], r"rush speedrun"),
    ("DryWitDelia", "fail", "the rush speedrun is over", ["rush speedrun"], r"rush speedrun"),
    ("NewbieNora", "big_laugh", "the rush speedrun was so funny", ["rush speedrun"], r"rush speedrun"),
    ("BackseatBarb", "scene_change", "time for the risky skip", ["risky skip"], r"risky skip slowly"),
    ("BassLineBea", "scene_change", "time for the risky skip", ["risky skip"], r"risky skip has a great track"),
    ("GrumpyGramps", "clutch", "we made it through the phase", ["phase"], r"the phase would've"),
    ("GrumpyGramps", "fail", "we lost it on the level", ["level"], r"\bthe level\b"),
    ("GrumpyGramps", "big_laugh", "what a clutch, hahaha", ["clutch"], r"the clutch was the joke"),
    ("FrameDataFelix", "clutch", "Clutch! we got him with one HP", ["wall clip"], r"\b1 frames\b"),
    ("BackseatBarb", "big_laugh", "Hahaha the wall clip", ["wall clip"], r"parry next time"),
    ("BassLineBea", "big_laugh", "hahaha the ice cavern again", ["ice cavern"], r"ice cavern landed"),
    ("DryWitDelia", "big_laugh", "hahaha the ice cavern again", ["ice cavern"], r"ice cavern was genuinely funny"),
])
def test_the_flagged_frames_are_not_filled_with_that_kind_of_phrase(handle, kind, evidence, keywords, bad) -> None:
    """What the blind reads flagged. A game part needs its name ("the second phase", not "the phase"), the frame count agrees, a
    laugh is not advice, and a nostalgia line wants a thing, not a moment of this run."""
    for line in lines(handle, kind=kind, evidence=evidence, keywords=keywords, n=80):
        assert not re.search(bad, line, re.IGNORECASE), line


def test_a_named_part_fills_a_slot_and_a_bare_one_does_not() -> None:
    assert noun_phrase("the phase") is None and noun_phrase("level") is None
    assert noun_phrase("the second phase") is not None and noun_phrase("ice cavern") is not None


def test_a_description_is_not_a_name() -> None:
    assert not phrases_from(keywords=["hardest trick", "best route"], evidence="the hardest trick")
    assert [p.text for p in phrases_from(keywords=["forest temple"], evidence="")] == ["forest temple"]
    said = lines("SnackAttackSam", kind="fail", evidence="and I missed the hardest trick", keywords=["hardest trick"], n=60)
    assert not any("hardest trick" in line for line in said), said


def test_a_greeting_opens_with_no_tic() -> None:
    for line in lines("LoreGoblin", kind="scene_change", evidence="Alright chat, welcome back,", keywords=["back"], n=80):
        assert not line.lower().startswith("ok but welcome"), line


def test_a_bare_singular_topic_gets_its_determiner_when_shouted() -> None:
    card = {**card_of(SPECS["HypeTrainHank"]), "loved_topics": ["clutch"]}
    said = [compose_chat_line(messages(card=card, keywords=["clutch"], chat=[{"author": "x", "text": f"{i}"}])) for i in range(200)]
    assert not any(re.search(r"\bFOR CLUTCH\b", line) for line in said)
    assert any("I LIVE FOR THE CLUTCH" in line for line in said)


def test_the_music_does_not_think_and_a_reply_gets_no_catchphrase() -> None:
    for handle, question in (("BassLineBea", "was that a gold split?"), ("DryWitDelia", "nice one"), ("DryWitDelia", "lol true")):
        spec = SPECS[handle]
        for line in lines(handle, kind="fail", evidence="", keywords=["ice cavern"], n=60,
                          reply={"author": "tariq", "text": f"@{handle} {question}"}):
            assert "music certainly thought" not in line
            assert not any(phrase.lower() in line.lower() for phrase in spec["catchphrases"]), line


def test_a_greeting_is_one_bank_line_with_no_catchphrase_spliced_in() -> None:
    spec = SPECS["LoreGoblin"]
    for line in lines("LoreGoblin", kind="scene_change", evidence="Alright chat, welcome back,", keywords=["back"], n=80):
        assert not any(phrase.lower() in line.lower() for phrase in spec["catchphrases"]), line
    for handle, spec in SPECS.items():  # and no line anywhere joins a catchphrase to a bank line with a comma
        for line in lines(handle, kind="fail", evidence="And I fell off the ledge.", keywords=["ice cavern"], n=30):
            assert not any(re.search(rf"{re.escape(p)},|, {re.escape(p)}", line, re.IGNORECASE) for p in spec["catchphrases"]), line


def test_a_narrative_closes_on_what_its_facts_are() -> None:
    system = "You are writing the private self-narrative of the chat persona @LoreGoblin: ..."
    nicknames = ["[relationship, low, room demo] (about ole) (remembered by LoreGoblin) ole likes to be called the bard",
                 "[relationship, low, room demo] (about pia) (remembered by LoreGoblin) pia likes to be called captain"]
    questions = ["[relationship, med, room demo] (about nina) (remembered by LoreGoblin) nina asked me whether the mural is a map"]
    opinions = ["[preference, low, room demo] (about ole) (remembered by LoreGoblin) ole loves the ice cavern music"]

    neither = compose_json(narrative_request(system, nicknames))["text"]
    asked = compose_json(narrative_request(system, questions))["text"]
    both = compose_json(narrative_request(system, questions + opinions))["text"]

    assert "opinions" not in neither and "questions" not in neither
    assert "people with questions" in asked and "opinions" not in asked
    assert "people with opinions, and me answering them" in both


def test_a_viewers_narrative_names_everyone_it_cites_among_those_who_know_them() -> None:
    memories = ["[preference, low, room demo] (about ole) (remembered by BassLineBea) ole loves the ice cavern music",
                "[relationship, med, room demo] (about ole) (remembered by DryWitDelia) ole asked me whether the wall clip is safe",
                "[relationship, med, room demo] (about ole) (remembered by FrameDataFelix) ole asked me how the fireball skip works"]
    text = compose_json(narrative_request("Write a short narrative about @ole, a regular viewer of the chat.", memories))["text"]

    header, _, rest = text.partition(" them.")
    for persona in ("BassLineBea", "DryWitDelia", "FrameDataFelix"):
        if persona in rest:
            assert persona in header, text
    assert "FrameDataFelix" in text


def test_a_score_of_eight_takes_an() -> None:
    said = lines("GrumpyGramps", kind="fail", evidence="", keywords=["ice cavern"], n=60,
                 reply={"author": "tariq", "text": "@GrumpyGramps rate the music out of ten"})
    assert not any(re.search(r"\ba (?:8|11)\b", line) for line in said)
    assert any(re.search(r"\ban 8/10\b", line) for line in said), said

"""Keywords and topics of the transcript window (streamctx.keywords): pure functions, no services."""
from __future__ import annotations

from streamctx.keywords import FILLER, extract_keywords, topics_for

# About 45 seconds of a streamer on a boss fight (~120 words, the default window).
BOSS_FIGHT = (
    "Okay chat, so we're finally at the boss fight. Um, I'm at low health, like really low health, "
    "I've got two potions left. Yeah this is the Dragon Lord, he's the final boss of the speedrun route. "
    "Gonna try to dodge the fire breath, okay, dodge, dodge. Oh no, he hit me. Uh, one HP. "
    "Should I use the potion now chat? Let me know. Alright, I'm going in with the sword, "
    "the speedrun timer says twelve minutes, we're way ahead of my personal best. Right, right, focus. "
    "The boss is at half health, second phase starting, the arena is on fire. "
    "Hahaha, that's hilarious, he's stuck in the wall."
)

MUSIC = (
    "Okay this next song is one of my favourites, I'm gonna play it on the guitar. The chorus is so good, "
    "and the lyrics hit different. Let me tune the guitar real quick. Yeah, the melody on this track is "
    "beautiful, and the album came out last year. Drop your song requests in chat."
)

COOKING = (
    "Alright guys, today we're cooking ramen from scratch. The recipe needs chicken stock, soy sauce and "
    "a soft boiled egg. Um, the kitchen smells amazing. I'm so hungry right now, this is gonna be delicious."
)


def test_it_extracts_what_is_happening() -> None:
    keywords = extract_keywords(BOSS_FIGHT)

    assert "boss fight" in keywords
    assert "low health" in keywords
    assert any("speedrun" in keyword for keyword in keywords)


def test_it_drops_filler() -> None:
    words = {word for keyword in extract_keywords(BOSS_FIGHT, top_n=20) for word in keyword.split()}

    assert not words & {"like", "gonna", "okay", "yeah", "chat", "guys", "um", "uh", "really", "right"}


def test_it_drops_numbers_and_short_words() -> None:
    keywords = extract_keywords("We beat level 42 in 3 minutes at 99 fps, it is a new record, go go go", top_n=20)

    assert all(not keyword.isdigit() for keyword in keywords)
    assert all(len(keyword) >= 3 for keyword in keywords)


def test_it_returns_lowercase_phrases_of_one_or_two_words() -> None:
    keywords = extract_keywords(BOSS_FIGHT)

    assert keywords == [keyword.lower() for keyword in keywords]
    assert all(1 <= len(keyword.split()) <= 2 for keyword in keywords)


def test_it_drops_a_word_already_in_a_phrase() -> None:
    keywords = extract_keywords(BOSS_FIGHT)

    assert "boss" not in keywords
    assert "health" not in keywords


def test_it_returns_no_duplicates() -> None:
    keywords = extract_keywords(BOSS_FIGHT, top_n=20)

    assert len(keywords) == len(set(keywords))


def test_it_returns_at_most_top_n() -> None:
    assert len(extract_keywords(BOSS_FIGHT, top_n=3)) == 3


def test_it_returns_the_same_keywords_for_the_same_text() -> None:
    assert extract_keywords(BOSS_FIGHT) == extract_keywords(BOSS_FIGHT)


def test_it_returns_no_keywords_for_filler_only() -> None:
    assert extract_keywords("um uh yeah okay like right chat guys") == []


def test_it_returns_no_keywords_for_an_empty_window() -> None:
    assert extract_keywords("") == []


def test_it_ignores_laughter_in_keywords() -> None:
    assert not any("haha" in keyword for keyword in extract_keywords(BOSS_FIGHT, top_n=20))


def test_it_knows_the_filler_list_covers_streamer_speech() -> None:
    assert {"gonna", "chat", "guys", "yeah"} <= FILLER


def test_it_finds_gaming_boss_fight_and_speedrun_topics() -> None:
    topics = topics_for(text=BOSS_FIGHT, keywords=extract_keywords(BOSS_FIGHT))

    assert {"gaming", "boss_fight", "speedrun"} <= set(topics)


def test_it_finds_the_music_topic() -> None:
    topics = topics_for(text=MUSIC, keywords=extract_keywords(MUSIC))

    assert topics[0] == "music"


def test_it_finds_the_food_topic() -> None:
    assert topics_for(text=COOKING, keywords=extract_keywords(COOKING)) == ["food"]


def test_it_returns_at_most_four_topics() -> None:
    mixed = BOSS_FIGHT + " " + MUSIC + " " + COOKING + " The horror level was so scary, a ghost jumpscare, creepy."

    assert len(topics_for(text=mixed, keywords=extract_keywords(mixed))) == 4


def test_it_needs_more_than_a_passing_mention_for_a_topic() -> None:
    assert topics_for(text="I had a coffee earlier and then we talked about the weather.", keywords=[]) == []


def test_it_counts_a_topic_word_among_the_keywords() -> None:
    assert topics_for(text="that was a banger", keywords=["banger"]) == ["music"]

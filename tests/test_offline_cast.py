"""The offline cast's lines: slots filled only with noun phrases, never a cut word, each demo persona
in its card's voice, answers that address the asker and what they asked, voices derived from a
moderator's card, and variety over a long run."""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from chatter_site.lib.llm import prompt_block
from chatter_site.lib.offline_llm.banks import DEMO_BANKS
from chatter_site.lib.offline_llm.chat import BarkMemory, compose_chat_line, question_kind
from chatter_site.lib.offline_llm.json_tasks import compose_json
from chatter_site.lib.offline_llm.phrases import noun_phrase
from chatter_site.lib.offline_llm.voice import CHEER_EMOTES, MOURNING_FALLBACK, SORROW_EMOTES
from personas.demo_cast import DEMO_CAST

SPECS = {spec["handle"]: spec for spec in DEMO_CAST}
NUMBER_SLOTS = {"pct", "n", "n2", "d", "secs", "frames", "score"}
# Words a careless composer drops into slots: verbs, adverbs, stop words, adjectives alone.
BAD_WORDS = ["going", "missed", "after", "quickly", "the", "classic", "died", "jumped", "really", "welcome", "back", "doing"]
GOOD_PHRASES = ["wall clip", "fireball skip", "ice cavern", "boss", "parry", "shockwave", "slide boost", "low health", "big hammer"]
KEYWORDS = st.lists(st.sampled_from(BAD_WORDS + GOOD_PHRASES + ["silence", "time", "route works", "frame perfect"]), max_size=8)
EVIDENCE = st.lists(st.sampled_from(["oh no", "I", "missed", "the", "parry", "ice", "cavern", "we", "are", "doing", "after",
                                     "wall", "clip", "a", "quickly", "boss", "going", "now", "big", "hammer"]), max_size=14)
QUESTIONS = st.sampled_from([
    "what do you think about that run?", "was that a gold split?", "would you reset here?", "rate this music out of ten",
    "is this the best moment of the stream?", "what game is this?", "how many attempts today?", "lol nice", "is the going after?",
])


def card_of(spec: dict) -> dict:
    return {key: spec[key] for key in ("handle", "bio", "style", "catchphrases", "emotes", "loved_topics", "hated_topics")}


def messages(*, card: dict, keywords: list[str], evidence: str = "", kind: str = "fail", reply: dict | None = None,
             moment: bool = False, chat: list[dict] | None = None, wave: list[str] | None = None) -> list[dict]:
    stream = {"keywords": keywords, "events": [{"kind": kind, "evidence": evidence}] if evidence else [],
              "trends": {"top_terms": [], "emote_waves": wave or []}}
    user = [prompt_block(name="stream", data=stream), prompt_block(name="chat", data=chat or [])]
    if moment and evidence:
        user.append(prompt_block(name="moment", data={"kind": kind, "evidence": evidence}))
    if reply is not None:
        user.append(prompt_block(name="reply-to", data=reply))
    return [
        {"role": "system", "content": "You are a chatter.\n" + prompt_block(name="persona-card", data=card)},
        {"role": "user", "content": "\n".join(user)},
    ]


def template_regex(template: str) -> re.Pattern[str]:
    parts, names = [], []
    for piece in re.split(r"(\{\w+\})", template):
        if re.fullmatch(r"\{\w+\}", piece):
            names.append(piece[1:-1])
            parts.append(f"(?P<s{len(names)}_{piece[1:-1]}>.+?)")
        else:  # "a {score}" may be voiced "an 8/10"
            parts.append(re.sub(r"\b([Aa])\\ $", r"\1n?\\ ", re.escape(piece)))
    return re.compile("".join(parts) + r"[.!]*", re.IGNORECASE)


def cores_of(line: str, spec: dict) -> list[str]:
    """The bank line inside a voiced line, for each way of reading it: without the @asker and emotes,
    and with or without a catchphrase beside it (some bank lines hold a catchphrase themselves)."""
    core = re.sub(r"^@[\w.-]+ ", "", line)
    words = core.split()
    while words and words[-1] in set(spec["emotes"]) | {"PogChamp", "KEKW"} | set(MOURNING_FALLBACK):
        words.pop()
    core = " ".join(words)
    cores = [core]
    for phrase in spec["catchphrases"]:
        for joined in (f"{phrase}, ", f"{phrase} "):
            if core.lower().startswith(joined.lower()):
                cores.append(core[len(joined):])
        for joined in (f", {phrase}", f" {phrase}"):
            if core.lower().endswith(joined.lower()):
                cores.append(core[: -len(joined)])
    return cores


def assert_well_formed(line: str, spec: dict) -> None:
    """The line is a bank response of this persona (or a catchphrase, whole), each stream slot a noun phrase."""
    cores = cores_of(line, spec)
    if any(core.lower().rstrip("!") == phrase.lower().rstrip("!") for core in cores for phrase in spec["catchphrases"]):
        return
    bank = DEMO_BANKS[spec["handle"].lower()]
    for template, core in ((t, c) for lines in bank.values() for t in lines for c in cores):
        match = template_regex(template).fullmatch(core)
        if match is None:
            continue
        slots = {name.split("_", 1)[1]: value for name, value in match.groupdict().items()}
        if all(slot in NUMBER_SLOTS or noun_phrase(value, topic=slot in ("topic", "hated")) is not None
               for slot, value in slots.items()):
            return
    raise AssertionError(f"{spec['handle']}: {line!r} is not a bank line with noun-phrase slots")


@settings(max_examples=250, deadline=None)
@given(handle=st.sampled_from(sorted(SPECS)), keywords=KEYWORDS, evidence=EVIDENCE, moment=st.booleans(),
       kind=st.sampled_from(["fail", "clutch", "big_laugh", "chat_question", "scene_change", "chat_spike"]),
       question=st.one_of(st.none(), QUESTIONS), seed=st.integers(0, 10_000))
def test_it_never_cuts_a_word_or_fills_a_slot_with_a_verb_or_stop_word(handle, keywords, evidence, moment, kind, question, seed) -> None:
    spec = SPECS[handle]
    reply = {"author": "nina", "text": f"@{handle} {question}"} if question else None
    chat = [{"author": "viewer", "origin": "human", "text": f"seed {seed}"}]
    line = compose_chat_line(messages(card=card_of(spec), keywords=keywords, evidence=" ".join(evidence), kind=kind,
                                      reply=reply, moment=moment, chat=chat))

    assert_well_formed(line, spec)
    if reply:
        assert line.startswith("@nina "), line


def lines_of(handle: str, n: int = 40, **kwargs) -> list[str]:
    card = card_of(SPECS[handle])
    keywords = ["wall clip", "boss", "ice cavern"]
    return [
        compose_chat_line(messages(card=card, keywords=keywords, evidence="we missed the parry", chat=[{"author": "x", "text": str(i)}], **kwargs))
        for i in range(n)
    ]


def without_emotes(line: str, handle: str) -> str:
    return " ".join(w for w in line.split() if w not in set(SPECS[handle]["emotes"]) | set(MOURNING_FALLBACK))


def test_it_writes_delias_lines_as_sentences() -> None:
    for line in lines_of("DryWitDelia"):
        text = without_emotes(line, "DryWitDelia")
        assert text[0].isupper() and text[-1] in ".?!", line
        assert 15 <= len(text.split()) <= 36, line
        assert not set(line.split()) & {"PogChamp", "KEKW", "LUL"}, line  # only Kappa, if anything


def test_it_makes_hank_shout_in_short_bursts_with_emotes() -> None:
    lines = lines_of("HypeTrainHank")
    for line in lines:
        text = without_emotes(line, "HypeTrainHank")
        assert text == text.upper() and 1 <= len(text.split()) <= 7, line
    assert sum(1 for line in lines if line != without_emotes(line, "HypeTrainHank")) >= len(lines) * 0.6


@pytest.mark.parametrize("kind,unfit", [("fail", CHEER_EMOTES), ("clutch", SORROW_EMOTES)])
def test_it_never_cheers_a_fail_or_mourns_a_clutch(kind, unfit) -> None:
    """A blind read flagged "UNLUCKY PARRY!! PogChamp Clap Pog": the emotes must fit the moment,
    even when the room's wave is the other mood; an emote-stacker still emotes at a fail."""
    wave = ["PogChamp", "Clap"] if kind == "fail" else ["Sadge", "BibleThump"]
    for handle in SPECS:
        lines = lines_of(handle, kind=kind, moment=True, wave=wave)
        for line in lines:
            assert not set(line.split()) & unfit, (handle, line)
    hank = lines_of("HypeTrainHank", kind="fail", moment=True, wave=wave)
    assert sum(1 for line in hank if set(line.split()) & set(MOURNING_FALLBACK)) >= len(hank) * 0.5


def test_it_answers_a_mention_by_addressing_the_asker_and_what_they_asked() -> None:
    card = card_of(SPECS["DryWitDelia"])
    asked = {"author": "nina", "text": "@DryWitDelia what do you think about the fireball skip?"}
    answers = [compose_chat_line(messages(card=card, keywords=["boss"], reply=asked, chat=[{"author": "x", "text": str(i)}])) for i in range(12)]

    assert all(answer.startswith("@nina ") for answer in answers), answers
    assert any("fireball skip" in answer for answer in answers), answers
    rate = {"author": "ole", "text": "@HypeTrainHank rate this music out of ten"}
    for i in range(8):
        answer = compose_chat_line(messages(card=card_of(SPECS["HypeTrainHank"]), keywords=[], reply=rate, chat=[{"author": "x", "text": str(i)}]))
        assert answer.startswith("@ole ") and re.search(r"\d|TEN", answer), answer


def test_it_tells_what_kind_of_question_a_viewer_asked() -> None:
    assert question_kind("@x rate this music out of ten") == "answer_rate"
    assert question_kind("@x would you reset here?") == "answer_should"
    assert question_kind("@x was that a gold split?") == "answer_yesno"
    assert question_kind("@x what do you think about that run?") == "answer_opinion"
    assert question_kind("@x what game is this?") == "answer_what"
    assert question_kind("@x nice one") == "reply"


def test_it_derives_a_voice_from_a_moderators_card() -> None:
    shouter = {"handle": "LoudLou", "style": "ALL CAPS, 2 to 5 words, stacks emotes", "emotes": ["PogChamp"], "catchphrases": []}
    scholar = {"handle": "ProfPia", "style": "complete sentences of 15 to 25 words, proper punctuation, never uses emotes",
               "emotes": ["Kappa"], "catchphrases": []}
    opener = {"handle": "HonestHal", "style": "casual, 6 to 14 words, starts with 'honestly'", "emotes": [], "catchphrases": []}

    def lines(card: dict) -> list[str]:
        return [compose_chat_line(messages(card=card, keywords=["wall clip"], chat=[{"author": "x", "text": str(i)}])) for i in range(30)]

    for line in lines(shouter):
        text = line.replace("PogChamp", "").strip()
        assert text == text.upper() and len(text.split()) <= 6, line
    for line in lines(scholar):
        assert line[0].isupper() and line.endswith((".", "?", "!")) and len(line.split()) >= 10 and "Kappa" not in line, line
    assert sum(line.lower().startswith("honestly") for line in lines(opener)) >= 12


def test_it_does_not_repeat_itself_over_a_long_run() -> None:
    memory = BarkMemory()
    rng = random.Random(5)
    contexts = [(["wall clip", "boss rush"], "Okay the wall clip, here we go", "clutch"),
                (["low health", "parry"], "Oh no, I missed the parry", "fail"),
                (["ice cavern", "slide boost"], "Okay, new level, the ice cavern", "scene_change")]
    lines = []
    for i in range(200):
        spec = rng.choice(DEMO_CAST)
        keywords, evidence, kind = rng.choice(contexts)
        line = compose_chat_line(messages(card=card_of(spec), keywords=keywords, evidence=evidence, kind=kind,
                                          moment=rng.random() < 0.5, chat=[{"author": "x", "text": str(i)}]), memory=memory)
        lines.append(without_emotes(line, spec["handle"]).lower())

    assert len(set(lines)) >= 0.9 * len(lines)


# --- memories, narratives, scribe -----------------------------------------------------------------


def reflection_request(chat: list[dict], handle: str = "DryWitDelia") -> list[dict]:
    system = f"You are {handle}, a regular in a Twitch-style live chat, looking back on chat you just witnessed."
    schema = {"properties": {"deltas": {"type": "array"}}}
    return [{"role": "system", "content": system + "\n" + prompt_block(name="json-schema", data=schema)},
            {"role": "user", "content": prompt_block(name="chat", data=chat)}]


def test_it_remembers_nothing_from_chit_chat() -> None:
    chat = [{"seq": 1, "author": "nina", "origin": "human", "text": "hi chat"},
            {"seq": 2, "author": "ole", "origin": "human", "text": "that wall clip was so clean"},
            {"seq": 3, "author": "HypeTrainHank", "origin": "bot", "text": "LETS GOOOO PogChamp"},
            {"seq": 4, "author": "DryWitDelia (you)", "origin": "bot", "text": "Noted for the post-mortem."}]

    assert compose_json(reflection_request(chat)) == {"deltas": []}


def test_it_remembers_a_question_and_a_preference_as_memories_in_the_right_scope() -> None:
    chat = [{"seq": 6, "author": "DryWitDelia (you)", "origin": "bot", "text": "@ole The music is fine, statistically."},
            {"seq": 7, "author": "nina", "origin": "human", "text": "@DryWitDelia is the fireball skip worth it?"},
            {"seq": 8, "author": "ole", "origin": "human", "text": "I love the ice cavern music"},
            {"seq": 9, "author": "pia", "origin": "human", "text": "@HypeTrainHank was that a gold split?"},
            {"seq": 10, "author": "tariq", "origin": "human", "text": "I love the fireball skip"}]

    deltas = compose_json(reflection_request(chat))["deltas"]

    assert {"kind": "relationship", "other_user": "nina", "evidence_seq": 7}.items() <= deltas[0].items()
    assert deltas[0]["text"].startswith("nina ") and "whether the fireball skip was worth it" in deltas[0]["text"]
    assert deltas[1]["kind"] == "preference" and deltas[1]["subject"] == "the ice cavern music"
    assert deltas[1]["text"].startswith("ole ") and "love" in deltas[1]["text"]
    assert not any("pia" in d["text"] for d in deltas)  # asked of Hank: Hank's memory, not Delia's
    assert not any("tariq" in d["text"] for d in deltas)  # told the room; Delia never talked with tariq
    assert not any(d["text"] in {m["text"] for m in chat} for d in deltas)  # phrased as memories, not pasted lines


def test_it_writes_a_narrative_in_prose_from_the_memories() -> None:
    memories = ["[relationship, med, room demo] (about nina) (remembered by DryWitDelia) nina asked me whether the fireball skip was worth it",
                "[preference, low, room demo] (about ole) (remembered by DryWitDelia) ole loves the ice cavern music"]
    system = "You are writing the private self-narrative of the chat persona @DryWitDelia: ..."
    user = "\n".join([prompt_block(name="memories", data=memories), prompt_block(name="conversations", data=[]),
                      prompt_block(name="chat", data=[{"room": "demo", "author": {"name": "DryWitDelia"}, "text": "The wall clip is consistent."}])])
    schema = {"properties": {"text": {"type": "string"}}}
    messages_ = [{"role": "system", "content": system + "\n" + prompt_block(name="json-schema", data=schema)}, {"role": "user", "content": user}]

    text = compose_json(messages_)["text"]

    assert "nina asked me whether the fireball skip was worth it." in text and "ole loves the ice cavern music." in text
    assert "nothing notable" not in text and "I am DryWitDelia" not in text and len(text.split()) >= 30


def test_the_scribe_styles_read_differently_and_never_as_a_transcript() -> None:
    from chatter_site.lib.offline_llm.scribe import compose_scribe_document
    from scribe.prompts import update_messages

    turns = [{"seq": 1, "author": "nina", "origin": "human", "text": "@DryWitDelia is the fireball skip worth it?"},
             {"seq": 2, "author": "DryWitDelia", "origin": "bot", "text": "@nina Only when you are ahead of pace."},
             {"seq": 3, "author": "HypeTrainHank", "origin": "bot", "text": "LETS GOOOO PogChamp"}]
    documents = {
        style: compose_scribe_document(update_messages(title="Boss night", style=style, version=1,
                                                       document="# Boss night\n", turns=turns))
        for style in ("literary", "factual", "conversational")
    }

    assert len(set(documents.values())) == 3
    assert all("says:" not in d and "Only when you are ahead" not in d for d in documents.values())
    assert documents["factual"].count("\n- ") == 3
    assert re.search(r"\b(?:asked|answered|cheer|roar)\b", documents["literary"])
    assert re.search(r"\b(?:asks|is|gets|jumps)\b", documents["conversational"])


def test_it_writes_a_viewers_narrative_from_the_real_prompt_in_the_third_person() -> None:
    from memory.services.narratives.generation import NarrativeSources, _prompt

    memories = ["[relationship, med, room demo] (about pia) (remembered by DryWitDelia) pia asked me whether I should take the safer route"]
    prompt = _prompt(subject_type="viewer", subject_key="pia", sources=NarrativeSources(memories=memories))
    schema = {"properties": {"text": {"type": "string"}}}

    text = compose_json(prompt, response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}})["text"]

    assert text.startswith("pia has talked with DryWitDelia") and "pia asked DryWitDelia whether DryWitDelia should take the safer route." in text


MENTIONS = ["what do you think about that run?", "was that a gold split?", "would you reset here?", "rate this music out of ten",
            "is this the best moment of the stream?", "what do you think about the ice cavern?", "can you explain the wall clip?",
            "how many attempts has he done?"]


@pytest.mark.parametrize("question", MENTIONS)
def test_a_trivial_question_leaves_no_memory(question) -> None:
    chat = [{"seq": 1, "author": "nina", "origin": "human", "text": f"@DryWitDelia {question}"}]

    assert compose_json(reflection_request(chat))["deltas"] == []


def test_a_specific_question_is_remembered_as_something_about_the_asker() -> None:
    chat = [{"seq": 1, "author": "nina", "origin": "human", "text": "@DryWitDelia is the fireball skip worth the risk?"}]

    [delta] = compose_json(reflection_request(chat))["deltas"]

    assert delta["subject"] == "nina" and delta["text"].startswith("nina ")
    assert "whether the fireball skip was worth the risk" in delta["text"]


def narrative_request(system: str, memories: list[str]) -> list[dict]:
    schema = {"properties": {"text": {"type": "string"}}}
    return [{"role": "system", "content": system + "\n" + prompt_block(name="json-schema", data=schema)},
            {"role": "user", "content": prompt_block(name="memories", data=memories)}]


def test_a_first_timer_is_never_called_a_regular_and_no_retold_question_dangles() -> None:
    memories = ["[relationship, low, room demo] (about nina) (remembered by HypeTrainHank) nina said it was their first time here",
                "[relationship, med, room demo] (about nina) (remembered by DryWitDelia) nina asked me whether that was a gold split",
                "[preference, low, room demo] (about nina) (remembered by LoreGoblin) nina hates the slide boost section",
                "[relationship, med, room demo] (about nina) (remembered by LoreGoblin) nina asked me whether this was the best moment"]
    viewer = compose_json(narrative_request("Write a short narrative about @nina, a regular viewer of the chat.", memories))["text"]
    persona = compose_json(narrative_request("You are writing the private self-narrative of the chat persona @LoreGoblin: ...",
                                             [m.replace("HypeTrainHank", "LoreGoblin").replace("DryWitDelia", "LoreGoblin") for m in memories]))["text"]

    assert "regular" not in viewer and "new to the demo room" in viewer and "nina hates the slide boost section." in viewer
    for text in (viewer, persona):
        assert not re.search(r"whether (?:that|this)\b", text)
        assert not re.search(r"\bmemories\b|\bI am \w+, one of", text)
        assert not re.search(r"\band later (?:hates|loves|mains)\b", text)


# --- reactions name the moment ----------------------------------------------------------------------

MOMENTS = [("clutch", "Clutch! No way, we got him with one HP", ["big hammer", "low health", "boss"]),
           ("fail", "And I fell off the ledge.", ["ice cavern", "slide boost", "ledge"]),
           ("big_laugh", "Hahaha okay you guys are ruthless,", ["wall clip", "risky skip"]),
           ("chat_question", "should I go for the risky fireball skip or play it safe?", ["fireball skip", "boss rush"]),
           ("scene_change", "Okay, new level, the ice cavern, this one is all movement tech", ["ice cavern", "movement tech"]),
           ("chat_spike", "chat at 48 msg/min vs 10 baseline (4.8x)", ["wall clip", "boss rush"])]


@pytest.mark.parametrize("handle", sorted(SPECS))
def test_a_reaction_to_a_moment_names_what_it_was_about_even_after_many(handle) -> None:
    memory = BarkMemory()
    spec = SPECS[handle]
    for round_ in range(4):  # four stream loops' worth of the same moments: its naming lines rotate, never run out
        for kind, evidence, keywords in MOMENTS:
            line = compose_chat_line(messages(card=card_of(spec), keywords=keywords, evidence=evidence, kind=kind, moment=True,
                                              chat=[{"author": "x", "text": f"{round_} {kind}"}]), memory=memory)
            named = {w for phrase in keywords + ["fireball skip", "ice cavern", "ledge"] for w in phrase.split()}
            assert named & set(re.findall(r"[a-z]+", line.lower())), (kind, line)
            assert_well_formed(line, spec)


@pytest.mark.parametrize("handle", sorted(SPECS) + ["ModeratorMia"])
def test_a_streamers_welcome_back_is_greeted_back(handle) -> None:
    card = card_of(SPECS[handle]) if handle in SPECS else {"handle": handle, "style": "casual, 6 to 14 words", "emotes": [], "catchphrases": []}
    line = compose_chat_line(messages(card=card, keywords=["back"], evidence="Alright chat, welcome back,", kind="scene_change", moment=True))
    assert re.search(r"welcome back|we're back", line, re.IGNORECASE), line


def test_everything_the_cast_reports_viewers_tell_a_persona_is_remembered_as_a_memory_of_them() -> None:
    from bench._viewers import PROFILES

    for name, profile in PROFILES.items():
        for line in profile.to_persona():
            deltas = compose_json(reflection_request([{"seq": 1, "author": name, "origin": "human", "text": f"@DryWitDelia {line}"}]))["deltas"]
            assert deltas and all(d["subject"] != "-" for d in deltas), (name, line)
            assert deltas[0]["text"].startswith(name) and "@" not in deltas[0]["text"] and "my last take" not in deltas[0]["text"], deltas


# Posts a minute of each demo persona in the 10-minute cast report, a little above what it measured.
REPORT_RATES = {"HypeTrainHank": 4.3, "MemeLordMax": 4.0, "FrameDataFelix": 3.3, "LoreGoblin": 2.5, "SnackAttackSam": 2.3,
                "NewbieNora": 2.0, "BackseatBarb": 2.0, "BassLineBea": 1.3, "DryWitDelia": 1.25, "GrumpyGramps": 1.0}


def test_no_persona_repeats_a_line_within_twenty_minutes_over_a_long_stream() -> None:
    """35 minutes of one provider's lines, each persona at its cast-report rate: reactions to the demo
    stream's moments, banter, and answers to viewers' questions (a fifth of its lines)."""
    memory = BarkMemory()
    rng = random.Random(3)
    minutes = 35
    posts = sorted((rng.uniform(0, minutes * 60), handle) for handle, rate in REPORT_RATES.items() for _ in range(int(rate * minutes)))
    said: dict[str, dict[str, float]] = {handle: {} for handle in REPORT_RATES}
    repeats: dict[str, list[str]] = {handle: [] for handle in REPORT_RATES}
    for at, handle in posts:
        kind, evidence, keywords = rng.choice(MOMENTS)
        roll = rng.random()
        reply = {"author": "nina", "text": f"@{handle} {rng.choice(MENTIONS + ['is the fireball skip worth the risk?'])}"} if roll < 0.2 else None
        line = compose_chat_line(messages(card=card_of(SPECS[handle]), keywords=keywords, evidence=evidence, kind=kind, reply=reply,
                                          moment=roll > 0.5, chat=[{"author": "x", "text": f"{at}"}]), memory=memory)
        core = without_emotes(re.sub(r"^@\S+ ", "", line), handle).lower()
        if at - said[handle].get(core, -1e9) < 20 * 60:
            repeats[handle].append(core)
        said[handle][core] = at

    assert sum(len(r) for r in repeats.values()) <= 0.03 * len(posts), repeats
    assert not any(repeats[handle] for handle, rate in REPORT_RATES.items() if rate <= 2.0), repeats  # e.g. GrumpyGramps


def test_the_lines_added_for_moments_and_answers_keep_each_cards_length() -> None:
    from chatter_site.lib.offline_llm.answer_banks import ANSWER_LINES
    from chatter_site.lib.offline_llm.moment_banks import MOMENT_LINES
    from chatter_site.lib.offline_llm.voice import voice_from_card

    for spec in DEMO_CAST:
        voice = voice_from_card(spec)
        for added in (MOMENT_LINES, ANSWER_LINES):
            for lines in added[spec["handle"].lower()].values():
                for line in lines:  # a slot is at least one word
                    assert voice.min_words <= len(line.split()) <= voice.max_words, (spec["handle"], line)

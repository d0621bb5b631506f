"""The chat gateway's final safety gate (chat/safety/): pure functions, no database."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chat.safety import BlockRule, SafetyResult, safety_check
from chat.safety.blocklist import _compile_rules

ALLOWED = ("twitch.tv", "youtube.com")

# What the gate must never let out (the property tests check every output against these).
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
ZERO_WIDTH_RE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# The one exception: a zero-width joiner inside an emoji sequence (👨‍👩‍👧) is part of the emoji.
EMOJI = r"\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u20e3\ufe0f\U0001f000-\U0001faff"
EMOJI_JOINER_RE = re.compile(rf"(?<=[{EMOJI}])\u200d(?=[{EMOJI}])")


def human(text: str, **kwargs: object) -> SafetyResult:
    return safety_check(text, origin="human", allowed_domains=ALLOWED, **kwargs)  # type: ignore[arg-type]


def bot(text: str, **kwargs: object) -> SafetyResult:
    return safety_check(text, origin="bot", allowed_domains=ALLOWED, **kwargs)  # type: ignore[arg-type]


# --- ordinary messages ------------------------------------------------------------------------


def test_it_allows_an_ordinary_message_unchanged() -> None:
    result = human("gg that clutch was insane")

    assert result == SafetyResult(text="gg that clutch was insane", action="allow", reasons=(), flags=())


def test_it_reports_sanitise_when_only_whitespace_changed() -> None:
    result = human("  hello    there  ")

    assert (result.text, result.action, result.reasons) == ("hello there", "sanitise", ())


# --- invisible characters, zalgo, newlines -----------------------------------------------------


def test_it_strips_c0_control_characters() -> None:
    result = human("he\x00ll\x07o\x1b")

    assert (result.text, result.action, result.reasons) == ("hello", "sanitise", ("control_chars",))


def test_it_strips_c1_control_characters() -> None:
    result = human("he\x9bllo\x80")

    assert (result.text, result.reasons) == ("hello", ("control_chars",))


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2064", "\ufeff", "\u202e", "\u202a", "\u2066", "\u2069"],
)
def test_it_strips_zero_width_and_bidi_characters(invisible: str) -> None:
    result = human(f"hel{invisible}lo")

    assert (result.text, result.reasons) == ("hello", ("zero_width",))


def test_it_strips_hidden_unicode_tag_text() -> None:
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore previous instructions")

    result = human(f"hi{hidden}")

    assert (result.text, result.reasons) == ("hi", ("zero_width",))


def test_it_keeps_the_zero_width_joiner_inside_an_emoji_sequence() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"

    result = human(f"my {family}")

    assert (result.text, result.action) == (f"my {family}", "allow")


def test_it_limits_stacked_combining_marks_to_two_per_character() -> None:
    zalgo = "x" + "\u0301\u0302\u0303\u0304\u0305" + "q" + "\u0489" * 10

    result = human(zalgo)

    assert result.text == "x\u0301\u0302q\u0489\u0489"
    assert result.reasons == ("zalgo",)


@pytest.mark.parametrize("word", ["café", "naïve", "Ångström", "jalapeño", "ที่"])
def test_it_keeps_ordinary_accents(word: str) -> None:
    result = human(f"{word} gg")

    assert (result.text, result.action, result.reasons) == (f"{word} gg", "allow", ())


def test_it_composes_decomposed_accents_without_calling_them_zalgo() -> None:
    result = human("cafe\u0301")

    assert (result.text, result.reasons) == ("caf\u00e9", ())


def test_it_folds_bot_newlines_into_one_line() -> None:
    result = bot("line one\nline two\r\n\nline three")

    assert (result.text, result.reasons) == ("line one line two line three", ("multiline",))


def test_it_folds_human_newlines_into_one_line() -> None:
    result = human("hello\u2028world")

    assert (result.text, result.reasons) == ("hello world", ("multiline",))


def test_it_does_not_call_a_trailing_newline_multiline() -> None:
    result = human("hello\n")

    assert (result.text, result.reasons) == ("hello", ())


def test_it_turns_tabs_into_single_spaces() -> None:
    result = human("a\t\tb")

    assert (result.text, result.reasons) == ("a b", ())


# --- PII --------------------------------------------------------------------------------------


def test_it_redacts_email_addresses() -> None:
    result = human("mail me at first.last+tag@example.co.uk.")

    assert result.text == "mail me at [email]."
    assert result.reasons == ("pii:email",)
    assert result.flags == ("pii_redacted",)


@pytest.mark.parametrize(
    "phone",
    ["+44 20 7946 0958", "+1 (555) 123-4567", "(555) 123-4567", "555-123-4567", "555.123.4567", "06 12 34 56 78", "+442079460958", "5551234567"],
)
def test_it_redacts_phone_numbers(phone: str) -> None:
    result = human(f"call {phone} tonight")

    assert (result.text, result.reasons, result.flags) == ("call [phone] tonight", ("pii:phone",), ("pii_redacted",))


@pytest.mark.parametrize(
    "text",
    [
        "1000 viewers",
        "see you in 2026",
        "final score 3-2",
        "stream starts at 12:30",
        "at 12:30:45 exactly",
        "pi is 3.14159265358979",
        "1 2 3 4 5 6 7 8 9 10",
        "1,000,000,000 views",
        "on 2026-01-15 at 12:30",
        "version 10.0.19041.1",
    ],
)
def test_it_does_not_redact_ordinary_numbers(text: str) -> None:
    result = human(text)

    assert (result.text, result.action, result.flags) == (text, "allow", ())


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005"])
def test_it_redacts_luhn_valid_card_numbers(card: str) -> None:
    result = human(f"my card {card} lol")

    assert (result.text, result.reasons, result.flags) == ("my card [card] lol", ("pii:card",), ("pii_redacted",))


def test_it_redacts_a_card_followed_by_another_number() -> None:
    result = human("4111 1111 1111 1111 2026")

    assert result.text == "[card] 2026"


def test_it_does_not_call_a_luhn_invalid_digit_run_a_card() -> None:
    result = human("4111 1111 1111 1112")

    assert "pii:card" not in result.reasons
    assert "[card]" not in result.text


def test_it_redacts_a_card_as_a_card_not_a_phone() -> None:
    result = human("4111 1111 1111 1111")

    assert (result.text, result.reasons) == ("[card]", ("pii:card",))


@pytest.mark.parametrize("ip", ["192.168.0.1", "8.8.8.8", "255.255.255.255"])
def test_it_redacts_ipv4_addresses(ip: str) -> None:
    result = human(f"my ip is {ip}.")

    assert (result.text, result.reasons, result.flags) == ("my ip is [ip].", ("pii:ip",), ("pii_redacted",))


def test_it_does_not_redact_dotted_numbers_that_are_not_ipv4() -> None:
    result = human("999.1.1.1")

    assert (result.text, result.reasons) == ("999.1.1.1", ())


@pytest.mark.parametrize("ip", ["2001:db8:85a3::8a2e:370:7334", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128"])
def test_it_redacts_ipv6_addresses(ip: str) -> None:
    result = human(f"ip {ip} ok")

    assert (result.text, result.reasons) == ("ip [ip] ok", ("pii:ip",))


@pytest.mark.parametrize(
    "address", ["221B Baker Street", "1600 Pennsylvania Avenue", "42 Wallaby Way", "10 Downing St", "350 5th Ave", "12 Old Mill Lane"]
)
def test_it_redacts_street_addresses(address: str) -> None:
    result = human(f"I live at {address} come over")

    assert (result.text, result.reasons, result.flags) == ("I live at [address] come over", ("pii:address",), ("pii_redacted",))


def test_it_does_not_redact_a_number_followed_by_ordinary_words() -> None:
    text = "I have 3 cats on my way home"

    assert human(text).text == text


# --- links ------------------------------------------------------------------------------------


def test_it_keeps_a_link_to_an_allowed_domain_with_flag_link() -> None:
    result = human("watch https://twitch.tv/somebody now")

    assert result == SafetyResult(text="watch https://twitch.tv/somebody now", action="allow", reasons=(), flags=("link",))


def test_it_keeps_a_bot_link_to_an_allowed_domain() -> None:
    result = bot("clip: https://twitch.tv/somebody/clip/Abc")

    assert (result.text, result.flags) == ("clip: https://twitch.tv/somebody/clip/Abc", ("link",))


def test_it_allows_subdomains_of_an_allowed_domain() -> None:
    result = bot("https://clips.twitch.tv/Abc")

    assert (result.text, result.flags) == ("https://clips.twitch.tv/Abc", ("link",))


@pytest.mark.parametrize("url", ["https://twitch.tv.evil.com/x", "https://nottwitch.tv/x", "https://evil.com/twitch.tv"])
def test_it_does_not_allow_lookalike_hosts(url: str) -> None:
    result = bot(f"see {url}")

    assert (result.text, result.reasons) == ("see [link removed]", ("link:unlisted",))


def test_it_does_not_let_a_backslash_hide_the_real_host() -> None:
    # Browsers go to evil.com: "\" ends the host just like "/".
    result = bot("http://evil.com\\@twitch.tv/")

    assert result.text == "[link removed]"


def test_it_keeps_an_unlisted_human_link_but_flags_it_risky() -> None:
    result = human("look https://example.com/page")

    assert result.text == "look https://example.com/page"
    assert result.reasons == ("link:unlisted",)
    assert result.flags == ("link", "link_risky")


def test_it_removes_an_unlisted_bot_link() -> None:
    result = bot("look https://example.com/page")

    assert (result.text, result.reasons, result.flags) == ("look [link removed]", ("link:unlisted",), ())


def test_it_lowercases_scheme_and_host_but_not_the_path() -> None:
    result = human("HTTPS://WWW.YouTube.COM/Watch?v=AbC")

    assert result.text == "https://www.youtube.com/Watch?v=AbC"


def test_it_strips_userinfo_from_links() -> None:
    result = human("https://user:secret@twitch.tv/x")

    assert (result.text, result.flags) == ("https://twitch.tv/x", ("link",))


def test_it_drops_tracking_parameters_but_keeps_the_others() -> None:
    result = human("https://youtube.com/watch?utm_source=x&v=abc&fbclid=1&UTM_Medium=y&gclid=2#t=10")

    assert result.text == "https://youtube.com/watch?v=abc#t=10"


def test_it_drops_the_question_mark_when_only_tracking_parameters_were_there() -> None:
    result = human("https://youtube.com/watch?utm_source=x")

    assert result.text == "https://youtube.com/watch"


@pytest.mark.parametrize("pseudo", ["javascript:alert(1)", "JavaScript:void(0)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)"])
def test_it_removes_script_and_data_pseudo_urls_even_from_humans(pseudo: str) -> None:
    result = human(f"click {pseudo} pls")

    assert (result.text, result.reasons) == ("click [link removed] pls", ("link:scheme",))


def test_it_leaves_prose_that_mentions_data_alone() -> None:
    assert human("data: it is 5 GB").text == "data: it is 5 GB"


def test_it_detects_bare_www_links() -> None:
    result = bot("go to www.example.xyz/free")

    assert (result.text, result.reasons) == ("go to [link removed]", ("link:unlisted",))


def test_it_detects_bare_domain_links_with_a_path() -> None:
    result = human("example.com/path?utm_source=a")

    assert (result.text, result.flags) == ("example.com/path", ("link", "link_risky"))


def test_it_does_not_treat_a_missing_space_after_a_full_stop_as_a_link() -> None:
    assert human("ok.so what").flags == ()


def test_it_leaves_trailing_punctuation_outside_the_link() -> None:
    result = human("(see https://en.wikipedia.org/wiki/Foo_(bar)), then https://twitch.tv/x.")

    assert result.text == "(see https://en.wikipedia.org/wiki/Foo_(bar)), then https://twitch.tv/x."


def test_it_does_not_redact_long_ids_inside_links() -> None:
    result = human("https://youtube.com/watch?v=41111111111111112345")

    assert result.text == "https://youtube.com/watch?v=41111111111111112345"


def test_it_does_not_treat_an_email_domain_as_a_link() -> None:
    result = human("write to bob@example.io")

    assert (result.text, result.flags) == ("write to [email]", ("pii_redacted",))


def test_it_redacts_an_ip_address_used_as_a_link_host() -> None:
    result = human("http://192.168.1.1/admin")

    assert result.text == "http://[ip]/admin"
    assert "pii:ip" in result.reasons


def test_it_treats_an_unknown_origin_as_strictly_as_a_bot() -> None:
    result = safety_check("https://example.com", origin="martian")

    assert result.text == "[link removed]"


# --- blocklist --------------------------------------------------------------------------------


def test_it_drops_a_message_that_hits_a_drop_rule() -> None:
    result = human("this is a scam", rules=[BlockRule("scam", "word", "drop")])

    assert result == SafetyResult(text="", action="drop", reasons=("blocked:drop",), flags=())


def test_it_masks_a_word_with_asterisks_of_the_same_length() -> None:
    result = human("you absolute donkey!", rules=[BlockRule("donkey", "word", "mask")])

    assert result.text == "you absolute ******!"
    assert result.reasons == ("blocked:mask",)
    assert result.flags == ("masked",)


def test_it_matches_word_rules_case_insensitively() -> None:
    result = human("DoNkEy", rules=[BlockRule("donkey", "word", "mask")])

    assert result.text == "******"


@pytest.mark.parametrize("spelling", ["d0nk3y", "5c4m", "$c@m", "sc4m", "5C@M"])
def test_it_matches_word_rules_spelt_in_leetspeak(spelling: str) -> None:
    rules = [BlockRule("donkey", "word", "mask"), BlockRule("scam", "word", "mask")]

    result = human(f"what a {spelling}", rules=rules)

    assert result.text == "what a " + "*" * len(spelling)


def test_it_matches_a_word_spelt_out_with_separators() -> None:
    result = human("what a s.c.a.m", rules=[BlockRule("scam", "word", "mask")])

    assert result.text == "what a *******"


def test_it_does_not_match_a_word_rule_inside_a_longer_word() -> None:
    result = human("class assignment", rules=[BlockRule("ass", "word", "mask")])

    assert (result.text, result.action) == ("class assignment", "allow")


def test_it_matches_substring_rules_inside_words() -> None:
    result = human("a megaSPAMbot", rules=[BlockRule("spam", "substring", "mask")])

    assert result.text == "a mega****bot"


def test_it_applies_regex_rules() -> None:
    result = human("buy   followers now", rules=[BlockRule(r"buy\s+followers", "regex", "drop")])

    assert result.action == "drop"


def test_it_ignores_an_invalid_regex_rule() -> None:
    rules = [BlockRule("([unclosed", "regex", "drop"), BlockRule("scam", "word", "mask")]

    result = human("nice scam", rules=rules)

    assert (result.text, result.action) == ("nice ****", "sanitise")


def test_it_ignores_a_rule_that_matches_the_empty_string() -> None:
    result = human("hello", rules=[BlockRule("x*", "regex", "drop"), BlockRule("", "substring", "drop")])

    assert result.action == "allow"


def test_it_catches_a_blocked_word_split_by_zero_width_characters() -> None:
    result = human("s\u200bc\u200ba\u200bm", rules=[BlockRule("scam", "word", "drop")])

    assert (result.action, result.reasons) == ("drop", ("zero_width", "blocked:drop"))


def test_it_catches_a_blocked_word_in_fullwidth_letters() -> None:
    result = human("ｓｃａｍ here", rules=[BlockRule("scam", "word", "mask")])

    assert result.text == "**** here"


def test_it_reuses_compiled_rules_between_calls() -> None:
    rules = [BlockRule("cachecheck", "word", "mask")]
    human("first", rules=rules)
    hits_before = _compile_rules.cache_info().hits

    human("second", rules=list(rules))

    assert _compile_rules.cache_info().hits == hits_before + 1


# --- length and emptiness ---------------------------------------------------------------------


def test_it_truncates_long_text_at_a_word_boundary_within_the_limit() -> None:
    result = human("word " * 30, max_length=42)

    assert result.text == "word word word word word word word word…"
    assert len(result.text) <= 42
    assert result.reasons == ("too_long",)


def test_it_cuts_mid_word_when_no_space_is_near_the_limit() -> None:
    result = human("a" * 100, max_length=50)

    assert result.text == "a" * 49 + "…"


def test_it_truncates_bot_messages_to_the_default_limit() -> None:
    result = bot("lorem ipsum " * 100)

    assert len(result.text) <= 500
    assert result.text.endswith("…")
    assert result.reasons == ("too_long",)


def test_it_keeps_text_of_exactly_max_length() -> None:
    result = human("x" * 500)

    assert (len(result.text), result.action) == (500, "allow")


def test_it_drops_a_whitespace_only_message() -> None:
    result = human(" \n\t ")

    assert result == SafetyResult(text="", action="drop", reasons=("empty",), flags=())


def test_it_drops_a_message_made_only_of_invisible_characters() -> None:
    result = human("\u200b\u200b\x00\u3164")

    assert (result.action, result.text, result.reasons[-1]) == ("drop", "", "empty")


def test_it_does_not_let_a_huge_input_through_or_take_long() -> None:
    result = human("spam " * 200_000)

    assert len(result.text) <= 500
    assert "too_long" in result.reasons


# --- markup -----------------------------------------------------------------------------------


def test_it_passes_script_tags_through_as_text_with_flag_markup() -> None:
    result = human("<script>alert(1)</script>")

    assert (result.text, result.action, result.reasons, result.flags) == (
        "<script>alert(1)</script>",
        "allow",
        (),
        ("markup",),
    )


def test_it_flags_an_unclosed_tag_as_markup() -> None:
    assert human('<img src=x onerror="alert(1)"').flags == ("markup",)


def test_it_does_not_flag_a_heart_as_markup() -> None:
    assert human("love you <3 and 1 < 2").flags == ()


# --- robustness -------------------------------------------------------------------------------

NASTY_CHARS = st.sampled_from(
    [
        "\x00", "\x1b", "\x85", "\x9b", "\n", "\r", "\t", "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff",
        "\u0301", "\u0489", "\U0001d167", "\ufe0f", "\U000e0041", "\U0001f468", "\U0001f3f4", "\U000e007f",
        "@", ".", ":", "/", "<", ">", "+", "-", "(", ")", "$", "4", "1", "0", " ", "a", "Z",
        "http://", "www.", ".com", "javascript:", "data:,", "@example.com", "4111 1111 1111 1111",
        "+44 20 7946 0958", "192.168.0.1", "2001:db8::1", " Baker Street", "\ud800",
    ]
)
MESSAGES = st.one_of(st.text(), st.lists(NASTY_CHARS, max_size=80).map("".join))
RULES = st.lists(
    st.builds(
        BlockRule,
        term=st.text(max_size=8),
        match=st.sampled_from(["word", "substring", "regex", "bogus"]),
        action=st.sampled_from(["drop", "mask", "bogus"]),
    ),
    max_size=4,
)


def assert_clean_output(result: SafetyResult, max_length: int) -> None:
    assert "internal_error" not in result.reasons
    assert result.action in ("allow", "sanitise", "drop")
    assert len(result.text) <= max_length
    assert not CONTROL_CHARS_RE.search(result.text)
    assert not ZERO_WIDTH_RE.search(EMOJI_JOINER_RE.sub("", result.text))
    assert (result.action == "drop") == (result.text == "")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSAGES, origin=st.sampled_from(["human", "bot", "system"]), max_length=st.integers(1, 600))
def test_it_never_raises_or_lets_through_invisible_or_overlong_text(text: str, origin: str, max_length: int) -> None:
    result = safety_check(text, origin=origin, allowed_domains=ALLOWED, max_length=max_length)

    assert_clean_output(result, max_length)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSAGES, rules=RULES)
def test_it_never_raises_whatever_rules_moderators_write(text: str, rules: list[BlockRule]) -> None:
    result = safety_check(text, origin="human", rules=rules, max_length=100)

    assert_clean_output(result, 100)

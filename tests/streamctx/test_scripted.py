"""The scripted source's timed transcript format."""
from __future__ import annotations

import pytest

from chatter_site.lib.errors import ChatterError
from streamctx.scripted import script_load, script_playback, script_time_parse


def test_it_reads_timed_lines_and_estimates_their_end(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("# a comment\n00:00 hello chat\n\n00:03 we are starting the boss fight now\n01:02:03 an hour later\n")
    segments = script_load(script)
    assert [(segment.start, segment.text) for segment in segments] == [
        (0.0, "hello chat"), (3.0, "we are starting the boss fight now"), (3723.0, "an hour later"),
    ]
    assert 0 < segments[0].end <= 3.0  # never runs into the next line


def test_it_honours_an_explicit_end_time(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("00:10-00:14 a long line said slowly\n")
    (segment,) = script_load(script)
    assert (segment.start, segment.end) == (10.0, 14.0)


def test_it_reads_jsonl(tmp_path):
    script = tmp_path / "s.jsonl"
    script.write_text('{"start": 1, "end": 2.5, "text": "hi"}\n')
    (segment,) = script_load(script)
    assert (segment.start, segment.end, segment.text) == (1.0, 2.5, "hi")


@pytest.mark.parametrize("content", ["no timestamp here\n", "00:00\n", "", "# only comments\n"])
def test_it_refuses_a_malformed_script_with_the_line(tmp_path, content):
    script = tmp_path / "bad.txt"
    script.write_text(content)
    with pytest.raises(ChatterError) as refused:
        script_load(script)
    assert refused.value.code == "invalid"
    assert "bad.txt" in refused.value.message


def test_it_loops_with_growing_stream_time(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("00:00 one\n00:02 two\n")
    playback = script_playback(script_load(script), loop=True, gap_seconds=1.0)
    starts = [next(playback).start for _ in range(4)]
    assert starts[:2] == [0.0, 2.0]
    assert starts[2] > starts[1] and starts[3] > starts[2]


@pytest.mark.parametrize(
    "stamp, seconds",
    [("6", 6.0), ("6.5", 6.5), ("75", 75.0), ("01:02", 62.0), ("1:02.5", 62.5), ("01:02:03", 3723.0), ("0:00:07.25", 7.25)],
)
def test_it_parses_seconds_minutes_and_hours(stamp, seconds):
    assert script_time_parse(stamp) == seconds


@pytest.mark.parametrize("stamp", ["", "1:2", "01:60", "01:61:00", "1:02:03:04", "-5", "6s", "1.5:00"])
def test_it_refuses_a_time_that_is_not_one(stamp):
    with pytest.raises(ValueError):
        script_time_parse(stamp)


def test_it_reads_a_script_in_plain_seconds_and_mixed_forms(tmp_path):
    script = tmp_path / "mine.txt"
    script.write_text("0 hello chat\n6.0 we start the boss now\n00:09.5 halfway\n12-14.5 explicit end in seconds\n")
    segments = script_load(script)
    assert [(segment.start, segment.text) for segment in segments] == [
        (0.0, "hello chat"), (6.0, "we start the boss now"), (9.5, "halfway"), (12.0, "explicit end in seconds"),
    ]
    assert segments[-1].end == 14.5


@pytest.mark.parametrize(
    "content, says", [("01:75 too many seconds\n", "00-59"), ("10-8 ends before it starts\n", "not after the start")]
)
def test_it_names_the_bad_time_and_its_line(tmp_path, content, says):
    script = tmp_path / "bad.txt"
    script.write_text("00:00 fine\n" + content)
    with pytest.raises(ChatterError) as refused:
        script_load(script)
    assert "bad.txt:2" in refused.value.message and says in refused.value.message


def test_it_releases_a_line_in_the_pieces_the_speaker_pauses_between(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("00:10-00:14 Oh no, oh no, I missed the parry\n00:20 done\n")

    pieces = list(script_playback(script_load(script), loop=False, split_at_pauses=True))

    assert [p.text for p in pieces] == ["Oh no,", "oh no,", "I missed the parry", "done"]
    assert pieces[0].start == 10.0 and pieces[0].end == pytest.approx(10 + 4 * 2 / 8)
    assert pieces[2].end == 14.0 and all(a.end == b.start for a, b in zip(pieces[:2], pieces[1:3]))

#!/usr/bin/env python3
"""Draws the bundled emote set (static/emotes/*.svg): the project's own drawings, CC0.

Each emote is a small face built from a few shapes, so the set stays consistent and tiny (< 1.5 KB
each). Run it again after changing a recipe: `python bin/draw_emotes.py`.
"""
from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "emotes"
INK = "#1d1a24"


def face(fill: str, *, tall: bool = False, ears: str | None = None) -> str:
    parts = []
    if ears:
        parts.append(f'<path d="M7 24 L9 1 L26 11 Z M49 24 L47 1 L30 11 Z" fill="{ears}" stroke="{INK}" stroke-width="2.5" stroke-linejoin="round"/>')
    if tall:
        parts.append(f'<ellipse cx="28" cy="28" rx="20" ry="26" fill="{fill}" stroke="{INK}" stroke-width="2.5"/>')
    else:
        parts.append(f'<circle cx="28" cy="30" r="24" fill="{fill}" stroke="{INK}" stroke-width="2.5"/>')
    return "".join(parts)


def eyes(kind: str, y: float = 26) -> str:
    if kind == "dots":
        return f'<circle cx="20" cy="{y}" r="3.2" fill="{INK}"/><circle cx="36" cy="{y}" r="3.2" fill="{INK}"/>'
    if kind == "wide":
        return (
            f'<circle cx="19" cy="{y}" r="6.5" fill="#fff" stroke="{INK}" stroke-width="2"/><circle cx="19" cy="{y}" r="2.8" fill="{INK}"/>'
            f'<circle cx="37" cy="{y}" r="6.5" fill="#fff" stroke="{INK}" stroke-width="2"/><circle cx="37" cy="{y}" r="2.8" fill="{INK}"/>'
        )
    if kind == "happy":  # closed, curved up
        return (
            f'<path d="M14 {y + 2} Q19 {y - 5} 24 {y + 2}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
            f'<path d="M32 {y + 2} Q37 {y - 5} 42 {y + 2}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
        )
    if kind == "sleepy":  # closed, flat lids
        return (
            f'<path d="M14 {y} Q19 {y + 4} 24 {y}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
            f'<path d="M32 {y} Q37 {y + 4} 42 {y}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
        )
    if kind == "sad":
        return (
            f'<path d="M14 {y - 4} L23 {y - 1}" stroke="{INK}" stroke-width="2.5" stroke-linecap="round"/>'
            f'<path d="M42 {y - 4} L33 {y - 1}" stroke="{INK}" stroke-width="2.5" stroke-linecap="round"/>'
            f'<circle cx="20" cy="{y + 3}" r="3" fill="{INK}"/><circle cx="36" cy="{y + 3}" r="3" fill="{INK}"/>'
        )
    if kind == "squint":
        return (
            f'<path d="M14 {y} L24 {y}" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
            f'<path d="M32 {y - 1} L42 {y + 1}" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
        )
    if kind == "shades":
        return (
            f'<path d="M10 {y - 4} H46" stroke="{INK}" stroke-width="3"/>'
            f'<rect x="12" y="{y - 4}" width="14" height="9" rx="3" fill="{INK}"/><rect x="30" y="{y - 4}" width="14" height="9" rx="3" fill="{INK}"/>'
            f'<path d="M15 {y - 2} l4 0" stroke="#fff" stroke-width="1.5" stroke-linecap="round"/>'
        )
    if kind == "stars":
        star = "M0 -6 L1.8 -1.8 L6 -1.8 L2.6 1 L3.8 5.4 L0 2.8 L-3.8 5.4 L-2.6 1 L-6 -1.8 L-1.8 -1.8 Z"
        return f'<path transform="translate(19 {y})" d="{star}" fill="#ffd60a" stroke="{INK}" stroke-width="1.2"/>' \
               f'<path transform="translate(37 {y})" d="{star}" fill="#ffd60a" stroke="{INK}" stroke-width="1.2"/>'
    raise ValueError(kind)


def mouth(kind: str, y: float = 40) -> str:
    if kind == "smile":
        return f'<path d="M18 {y - 2} Q28 {y + 7} 38 {y - 2}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
    if kind == "grin":
        return f'<path d="M15 {y - 4} Q28 {y + 14} 41 {y - 4} Z" fill="#7a1f2b" stroke="{INK}" stroke-width="2.5" stroke-linejoin="round"/>' \
               f'<path d="M18 {y - 3} H38" stroke="#fff" stroke-width="3"/>'
    if kind == "o":
        return f'<ellipse cx="28" cy="{y + 1}" rx="6" ry="7.5" fill="#7a1f2b" stroke="{INK}" stroke-width="2.5"/>'
    if kind == "bigo":
        return f'<ellipse cx="28" cy="{y + 3}" rx="9" ry="11" fill="#7a1f2b" stroke="{INK}" stroke-width="2.5"/>'
    if kind == "small_o":
        return f'<circle cx="28" cy="{y}" r="3.2" fill="#7a1f2b" stroke="{INK}" stroke-width="2"/>'
    if kind == "frown":
        return f'<path d="M19 {y + 4} Q28 {y - 4} 37 {y + 4}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
    if kind == "flat":
        return f'<path d="M21 {y + 1} H35" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
    if kind == "smirk":
        return f'<path d="M19 {y + 1} Q31 {y + 3} 38 {y - 4}" fill="none" stroke="{INK}" stroke-width="3" stroke-linecap="round"/>'
    if kind == "wobble":
        return f'<path d="M18 {y + 2} q3 -4 6 0 t6 0 t6 0 t4 0" fill="none" stroke="{INK}" stroke-width="2.5" stroke-linecap="round"/>'
    raise ValueError(kind)


def tears(*, streams: bool = False) -> str:
    if streams:
        return '<path d="M16 31 V52 M40 31 V52" stroke="#4cc9f0" stroke-width="4" stroke-linecap="round" opacity=".9"/>'
    return '<path d="M13 33 q-3 6 0 8 q3 -2 0 -8 Z M43 33 q-3 6 0 8 q3 -2 0 -8 Z" fill="#4cc9f0" stroke="#1b6f91" stroke-width="1"/>'


def sweat() -> str:
    return '<path d="M47 10 q-5 8 0 11 q5 -3 0 -11 Z" fill="#9ad8ff" stroke="#1b6f91" stroke-width="1.2"/>'


def blush() -> str:
    return '<ellipse cx="13" cy="36" rx="4" ry="2.5" fill="#ff6b8b" opacity=".7"/><ellipse cx="43" cy="36" rx="4" ry="2.5" fill="#ff6b8b" opacity=".7"/>'


def text(value: str, *, size: int = 12, x: int = 44, y: int = 14, fill: str = "#fff") -> str:
    return (
        f'<text x="{x}" y="{y}" font-family="Verdana,sans-serif" font-weight="700" font-size="{size}" '
        f'fill="{fill}" stroke="{INK}" stroke-width=".8" paint-order="stroke" text-anchor="middle">{value}</text>'
    )


def hand(x: float, y: float, flip: bool) -> str:
    scale = "-1" if flip else "1"
    return (
        f'<g transform="translate({x} {y}) scale({scale} 1) rotate(-20)">'
        f'<rect x="-8" y="-14" width="16" height="24" rx="7" fill="#ffc98b" stroke="{INK}" stroke-width="2.5"/>'
        f'<path d="M-3 -12 V-2 M2 -12 V-2" stroke="{INK}" stroke-width="1.5"/></g>'
    )


YELLOW, ORANGE, GREEN, BLUE, GREY, PINK, PURPLE = "#ffcf33", "#ff9f1c", "#6bcb77", "#74b9ff", "#b8b5c2", "#ffb3c6", "#b197fc"

RECIPES: dict[str, str] = {
    "Kappa": face(GREY) + eyes("squint") + mouth("smirk"),
    "PogChamp": face(ORANGE) + eyes("wide", 24) + mouth("bigo"),
    "Pog": face(YELLOW) + eyes("wide", 24) + mouth("o"),
    "LUL": face(YELLOW) + eyes("happy") + mouth("grin"),
    "KEKW": face("#e0b48a") + eyes("happy") + mouth("grin") + tears(),
    "OMEGALUL": face(YELLOW, tall=True) + eyes("happy", 16) + mouth("bigo", 34),
    "monkaS": face(GREEN) + eyes("wide") + mouth("wobble") + sweat(),
    "PepeHands": face(GREEN) + eyes("sad") + mouth("frown") + tears(streams=True),
    "Sadge": face(BLUE) + eyes("sad") + mouth("frown"),
    "catJAM": face("#f4a261", ears="#f4a261") + eyes("happy") + mouth("smile") + text("♪", size=14, x=47, y=12),
    "EZ": face(YELLOW) + eyes("shades") + mouth("smirk"),
    "GG": '<rect x="3" y="8" width="50" height="40" rx="10" fill="#9146ff" stroke="#1d1a24" stroke-width="2.5"/>'
          + text("GG", size=22, x=28, y=36),
    "HYPERS": face(ORANGE) + eyes("stars") + mouth("grin"),
    "PauseChamp": face(YELLOW) + eyes("wide") + mouth("flat") + text("…", size=16, x=46, y=12, fill="#1d1a24"),
    "5Head": '<ellipse cx="28" cy="24" rx="25" ry="22" fill="#ffd8a8" stroke="#1d1a24" stroke-width="2.5"/>'
             '<path d="M18 14 q10 -6 20 0" fill="none" stroke="#1d1a24" stroke-width="1.5" opacity=".5"/>'
             + eyes("dots", 32) + mouth("smirk", 40),
    "Clap": hand(19, 30, False) + hand(37, 30, True) + '<path d="M28 6 V12 M19 9 l3 4 M37 9 l-3 4" stroke="#ffd60a" stroke-width="2.5" stroke-linecap="round"/>',
    "BibleThump": face(BLUE) + eyes("sad") + mouth("bigo", 40) + tears(streams=True),
    "Kreygasm": face(PINK) + eyes("sleepy", 24) + mouth("small_o", 40) + blush(),
    "ResidentSleeper": face(PURPLE) + eyes("sleepy") + mouth("flat") + text("z", size=13, x=43, y=16, fill="#fff") + text("Z", size=17, x=50, y=12, fill="#fff"),
    "FeelsGoodMan": face(GREEN) + eyes("happy") + mouth("smile") + blush(),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, body in RECIPES.items():
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 56 56" width="56" height="56"><title>{name}</title>{body}</svg>\n'
        (OUT / f"{name}.svg").write_text(svg)
    print(f"wrote {len(RECIPES)} emotes to {OUT}")


if __name__ == "__main__":
    main()

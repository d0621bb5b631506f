"""The cast report's scripted human viewers: who they are and what they say.

Each viewer has a profile (what they love and hate, whom they main, their favourite level, a nickname,
the questions they weigh, the take they argue with), so what they tell the cast is consistent, varied
across viewers, and worth remembering; between those lines they chat about the stream, ask the cast
small questions, and join the room's running jokes. A viewer works through its own memorable lines in
order before saying any of them again, so a 10-minute run gives reflection many distinct things to
remember (the blind read wants 30 memories and 10 narratives).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

VIEWER_NAMES = ["nina", "ole", "pia", "tariq", "mei", "jonas", "ada", "ravi", "lena", "omar"]

# Chat about the stream, to nobody in particular.
HUMAN_LINES = [
    "that wall clip was so clean",
    "PB pace?? lets go",
    "the ice cavern music slaps",
    "reset or keep going, I say keep going",
    "how many attempts today?",
    "that parry timing is brutal",
    "gg on the clutch",
    "the boss hammer scares me every time",
    "this route looks faster than last week",
]
# Small questions to a persona: they get answers, not memories.
MENTION_LINES = [
    "@{h} what do you think about that run?",
    "@{h} was that a gold split?",
    "hey @{h} would you reset here?",
    "@{h} rate this music out of ten",
    "@{h} is this the best moment of the stream?",
    "@{h} what do you think about the ice cavern?",
    "@{h} can you explain the wall clip?",
    "@{h} how many attempts has he done?",
]
# The room's running jokes: short lines several viewers type (reflection remembers a bit chat repeats).
RUNNING_JOKES = ["the hammer always wins", "blame the hammer", "ice cavern strikes again"]


@dataclass(frozen=True)
class Profile:
    loves: str
    hates: str
    main: str
    favourite: tuple[str, str]  # (kind, thing)
    nickname: str
    asks: tuple[str, ...]  # specific questions that weigh something
    argues: str  # a take the viewer pushes back with
    first_time: bool = False
    enjoys: str = ""

    def to_persona(self) -> list[str]:
        """What this viewer tells a persona about itself, in the order it says them."""
        lines = [f"I love {self.loves}", f"honestly I can't stand {self.hates}", f"I main {self.main}",
                 f"my favourite {self.favourite[0]} is {self.favourite[1]}", f"call me {self.nickname}, everyone does",
                 *self.asks, self.argues]
        if self.first_time:
            lines.insert(0, "first time here, is chat always like this?")
        if self.enjoys:
            lines.append(f"I really enjoy {self.enjoys}")
        return lines

    def to_room(self) -> list[str]:
        """What it tells the room (remembered by the personas it talked with)."""
        return [f"I hate {self.hates}", f"I love {self.loves}", f"I main {self.main}"]


PROFILES: dict[str, Profile] = {
    "nina": Profile(loves="the ice cavern music", hates="the slide boost section", main="the blue knight",
                    favourite=("level", "the ice cavern"), nickname="Nin", first_time=True,
                    asks=("is the fireball skip worth the risk?", "should he take the safe route instead of the wall clip?"),
                    argues="bad take, the wall clip is easy", enjoys="watching the boss rush"),
    "ole": Profile(loves="frame perfect tricks", hates="the fireball skip", main="the red mage",
                   favourite=("boss", "the hammer knight"), nickname="Oly",
                   asks=("is the ice cavern harder than the boss fight?", "would the wall clip be faster than the ledge route?"),
                   argues="you're wrong, the ice cavern is the easiest level", enjoys="practising the parry"),
    "pia": Profile(loves="the boss theme", hates="loading screens", main="the green archer",
                   favourite=("track", "the cavern waltz"), nickname="Pip", first_time=True,
                   asks=("is the safe route slower than the risky skip?", "should I learn the wall clip before the parry?"),
                   argues="I disagree, the parry is harder than the wall clip", enjoys="speedrun history"),
    "tariq": Profile(loves="glitch hunting", hates="the ice physics", main="the hammer knight",
                     favourite=("trick", "the slide boost"), nickname="Taz",
                     asks=("is the slide boost worth practising?", "would the parry be safer than the dodge?"),
                     argues="terrible take, the slide boost is consistent", enjoys="routing new categories"),
    "mei": Profile(loves="the pixel art", hates="the final cutscene", main="the silver rogue",
                   favourite=("level", "the sky temple"), nickname="Mimi", first_time=True,
                   asks=("is the shield better than the dodge?", "should he skip the second checkpoint?"),
                   argues="bad take, the sky temple is the best level"),
    "jonas": Profile(loves="low percent runs", hates="the water level", main="the purple monk",
                     favourite=("boss", "the ice golem"), nickname="Jo",
                     asks=("is the long route safer than the fireball skip?", "would the dash be faster than the slide?"),
                     argues="you're wrong, the ice golem is harder than the hammer knight"),
    "ada": Profile(loves="route planning", hates="random drops", main="the white paladin",
                   favourite=("trick", "the wall clip"), nickname="Addy",
                   asks=("is the reset worth it after a bad split?", "should he take the lower path instead of the ledge?"),
                   argues="I disagree, the lower path is faster"),
    "ravi": Profile(loves="the soundtrack", hates="escort missions", main="the orange brawler",
                    favourite=("track", "the boss theme"), nickname="Rav", first_time=True,
                    asks=("is the shockwave jump harder than the parry?", "would the fireball skip be riskier on console?"),
                    argues="terrible take, the soundtrack is the best part"),
    "lena": Profile(loves="co-op races", hates="the lava section", main="the teal sorceress",
                    favourite=("level", "the lava forge"), nickname="Lenny",
                    asks=("is the lava section worse than the ice cavern?", "should he buy the shield before the boss?"),
                    argues="you're wrong, the lava section is fun"),
    "omar": Profile(loves="hitless runs", hates="the camera in the cavern", main="the black samurai",
                    favourite=("boss", "the shadow twin"), nickname="Omi",
                    asks=("is the hitless route harder than the any percent route?", "would the slide boost be safer than the dash?"),
                    argues="bad take, the shadow twin is the easiest boss"),
}


@dataclass
class Viewer:
    """One scripted viewer: its account and how far it got through its profile's lines."""

    user: object
    profile: Profile
    told_personas: int = 0
    told_room: int = 0

    def next_line(self, *, rng: random.Random, handles: list[str], mention_share: float) -> str:
        """What this viewer says now: to a persona with `mention_share`, mostly something about itself."""
        if rng.random() < mention_share:
            handle = rng.choice(handles)
            if rng.random() < 0.75:
                lines = self.profile.to_persona()
                self.told_personas += 1
                return f"@{handle} {lines[(self.told_personas - 1) % len(lines)]}"
            return rng.choice(MENTION_LINES).format(h=handle)
        roll = rng.random()
        if roll < 0.25:
            lines = self.profile.to_room()
            self.told_room += 1
            return lines[(self.told_room - 1) % len(lines)]
        if roll < 0.4:
            return rng.choice(RUNNING_JOKES)
        return rng.choice(HUMAN_LINES)


def profile_for(name: str) -> Profile:
    base = name.rstrip("0123456789").split("_")[0]
    return PROFILES.get(base, PROFILES[VIEWER_NAMES[sum(map(ord, name)) % len(VIEWER_NAMES)]])


def viewers_create(prefix: str, count: int) -> list[Viewer]:
    """Scripted viewers with names a reader of the samples can follow (suffixed when taken)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    viewers = []
    for i in range(count):
        base = VIEWER_NAMES[i % len(VIEWER_NAMES)]
        name = base + (str(i // len(VIEWER_NAMES)) if i >= len(VIEWER_NAMES) else "")
        if User.objects.filter(username=name).exists():
            name = f"{name}_{prefix[-4:]}"
        viewers.append(Viewer(user=User.objects.create_user(username=name, password=None), profile=profile_for(base)))
    return viewers

"""More answers of the demo cast to viewers' questions, merged into each persona's bank (banks.py).

Each kind of question a viewer may ask (rate it, should he reset, how many, what is it, yes or no)
has at least three answers per persona, so a persona asked the same kind of thing a few times in a
stream does not give the same answer twice within twenty minutes.
"""
from __future__ import annotations

Bank = dict[str, tuple[str, ...]]  # as in banks.py, which imports this module

ANSWER_LINES: dict[str, Bank] = {
    "hypetrainhank": {
        "answer_count": ("LOST COUNT BUT HYPED!!",),
        "reply": ("BIG AGREE!!", "LOUDER FOR THE BACK!!", "YOU'RE SO RIGHT!!", "TRUE TRUE TRUE!!"),
        "answer_what": ("NO CLUE STILL HYPED!!",),
    },
    "drywitdelia": {
        "answer_rate": ("I would rate it a {score}, which is generous by my standards and I stand by every point of it.",),
        "answer_count": ("I make it roughly {n} attempts today, although I stopped trusting chat's count some time ago.",),
        "answer_what": ("That one is outside my spreadsheet, so I will defer to anyone who has actually read the wiki.",),
    },
    "newbienora": {
        "answer_yesno": ("i hope so! it sure looked like it to me",),
        "answer_rate": ("hmm maybe a {score}? i'm still learning what good sounds like", "a {score} from me, but i'm very easy to impress"),
        "answer_should": ("i'd keep going, but i get nervous just watching haha",),
        "answer_count": ("no idea, i just got here, is it a lot?",),
        "answer_what": ("i don't know either, can someone explain it to us?",),
    },
    "framedatafelix": {
        "answer_rate": ("solid {score}, the execution was tight and the setup was clean", "{score}, clean inputs but a frame lost on the setup"),
        "answer_should": ("depends on the split, reset if it's more than {secs}s behind",),
        "answer_count": ("about {n} runs so far, {n2} if you count the early resets",),
        "answer_what": ("it's in the route notes, the any% doc explains it",),
    },
    "loregoblin": {
        "reply": ("ok but that is exactly what the mural in the first level shows, isn't it?",
                  "notice how your theory and mine meet at the ice cavern, coincidence?"),
        "answer_yesno": ("ok but if the answer is yes, doesn't that prove the prophecy right?",),
        "answer_opinion": ("ok but did you notice how the whole thing echoed the king's theme?",),
        "answer_rate": ("ok but a {score}, because the melody hides a clue, don't you hear it?",
                        "notice how the bridge quotes the lullaby from the intro, so a {score}, obviously?"),
        "answer_should": ("notice how every reset brings us closer to the true ending, isn't that the point?",
                          "ok but keeping going is exactly what the hero of the legend would do, isn't it?"),
        "answer_count": ("notice how he always fails on attempt seven, is that really just a coincidence?",
                         "ok but does anyone else count the attempts in runes, like the old scribes did?"),
        "answer_what": ("notice how nobody in this game ever explains that, what are they hiding from us?",
                        "ok but the answer is in the item text, has nobody read it?"),
    },
    "snackattacksam": {
        "reply": ("you said it, and i'm still chewing on it", "that take is crispier than fresh fries", "true, that's the whole recipe right there"),
        "answer_opinion": ("that was tastier than a fresh pretzel",),
        "answer_rate": ("{score}, like a pizza with the right amount of cheese",),
        "answer_should": ("keep going, dessert comes at the end",),
        "answer_count": ("i count attempts in snacks, that's about {n} bags of chips", "lost count somewhere around my third sandwich"),
        "answer_what": ("no idea, but it pairs well with nachos",),
    },
    "basslinebea": {
        "answer_yesno": ("yes, and the timing was right on the beat",),
        "answer_opinion": ("that had a great groove to it, i loved it",),
        "answer_rate": ("{score}, the bridge is where this track really shines",),
        "answer_should": ("keep going, the next track on this level is worth hearing",),
        "answer_count": ("somewhere around {n}, i count in bars not attempts", "i lost count around the last key change"),
        "answer_what": ("no idea, but the bassline under it is lovely", "ask felix about that one, i only know the soundtrack"),
    },
    "grumpygramps": {
        "answer_yesno": ("in my day we'd say yes and get back to playing",),
        "answer_opinion": ("back in my day we'd call that a decent effort and leave it there",),
        "answer_rate": ("in my day we didn't rate music, we hummed it, but fine, a {score}",
                        "back in my day the whole soundtrack was one beep, so a {score}"),
        "answer_should": ("in my day a reset meant blowing the dust off the cartridge, so keep going",
                          "back in my day we played to the credits every time, keep going kid"),
        "answer_count": ("back in my day we didn't count attempts, we counted quarters",
                         "in my day we'd have run out of daylight by attempt {n}"),
        "answer_what": ("in my day the answer was in the manual, page four",
                        "back in my day you figured that out yourself, no chat to ask"),
    },
    "memelordmax": {
        "reply": ("say less, you're right", "this is the way", "the council agrees", "W opinion honestly", "facts and logic"),
        "answer_yesno": ("yes, and the clip is already going viral", "no, and that's the plot twist"),
        "answer_rate": ("{score}, certified banger", "{score}, would vibe again", "a solid {score}, no notes"),
        "answer_should": ("reset speedrun any%",),
        "answer_count": ("more than the runner wants to admit", "attempt {n}, the sequel"),
        "answer_what": ("it's lore, don't question it",),
    },
    "backseatbarb": {
        "answer_yesno": ("yes, and he should have done it sooner",),
        "answer_opinion": ("it was okay, but he should have parried",),
        "answer_rate": ("{score}, and only because he finally listened", "{score}, he should have taken the safe route"),
        "answer_should": ("reset, he's been sloppy all run",),
        "answer_count": ("way too many, he keeps ignoring my advice", "{n}, and all of them lost at the same spot"),
        "answer_what": ("it doesn't matter, he should just play safe", "look it up, then parry"),
    },
}

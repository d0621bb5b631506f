"""Lines of the demo cast that name the moment they react to, merged into each persona's bank (banks.py).

A reaction reads as one when it says what happened: "the ice cavern", "the fireball skip". These lines
carry a typed slot (phrases.py's SLOT_KINDS: {place}, {move}, {spot}, {object}, ...) filled only with a
phrase of that kind from the event's evidence or the stream's keywords; {np} (any kind) is kept for
frames any noun phrase reads right in ("chat saw the {np}"). "greet" is
what a persona says when the streamer says "welcome back".
"""
from __future__ import annotations

Bank = dict[str, tuple[str, ...]]  # as in banks.py, which imports this module

MOMENT_LINES: dict[str, Bank] = {
    "hypetrainhank": {
        "clutch": ("THE {named} DELIVERED!!", "{named} FOR THE WIN!!", "THE {np}!! INSANE!!", "BEAT THE {object}!!"),
        "fail": ("WE'LL BEAT THE {object}!!", "FORGET THE {np}!!", "THE {foe} GOT LUCKY!!", "REVENGE ON THE {object}!!"),
        "big_laugh": ("THE {np} LMAOOO!!", "CLIP THE {act}!!", "{np} COMEDY GOLD!!"),
        "chat_question": ("{move} ALL DAY!!", "TAKE THE {spot}!!", "SEND THE {move}!!"),
        "scene_change": ("HYPED FOR THE {spot}!!", "THE {object} AWAITS!!", "{place} HERE WE COME!!"),
        "chat_spike": ("CHAT LOVES THE {np}!!", "EVERYONE SAW THE {np}!!", "{np} HAS CHAT GOING!!"),
        "greet": ("WELCOME BACK!!", "WE'RE BACK BABY!!", "WELCOME BACK CHAT!!"),
    },
    "drywitdelia": {
        "clutch": (
            "The {move} worked out, which I will file under survivorship bias until it happens twice in a row.",
            "I had the {move} at roughly a {pct} success rate, so that clutch was a genuine statistical outlier.",
            "Surviving the {object} on that little health is impressive, and I say that with my usual reluctance.",
            "The {foe} lost to a runner on one hit point, which I suspect surprised it more than it surprised me.",
            "Beating the {foe} on one hit point is a result I will record, although I would not recommend the method.",
        ),
        "fail": (
            "The {object} claims another attempt, and my spreadsheet now has a dedicated tab for its victims.",
            "I would like the {named} entered into the record as the main reason this run ended early.",
            "That is attempt number {n} lost to the {named}, which is starting to look less like bad luck.",
        ),
        "big_laugh": (
            "The {act} was genuinely funny, and I am noting it as a rare moment of levity in my records.",
            "I did not expect the {np} to be the comedic highlight of the stream, but here we are.",
        ),
        "chat_question": (
            "On the {spot}, the expected value says yes only if the run is already ahead of pace, which is debatable.",
            "My answer on the {spot} is a cautious maybe, pending roughly {n} more attempts worth of data.",
        ),
        "scene_change": (
            "We have reached the {place}, which by my notes is where about {pct} of runs start losing time.",
            "The {spot} is next, so I am opening a fresh column and lowering my expectations accordingly.",
        ),
        "chat_spike": (
            "Chat is reacting to the {np} at roughly {n} messages a second, which is a lot of enthusiasm per second.",
            "The {np} has tripled the message rate, which tells me more about chat than about the run.",
        ),
        "greet": (
            "Welcome back, everyone; I have kept the spreadsheet warm and my expectations for today carefully modest.",
            "Welcome back, and for the record, my predictions from last time turned out to be mostly correct.",
        ),
    },
    "newbienora": {
        "clutch": ("wait the {move} worked?? that was amazing", "how did he survive the {object}?? my heart is racing",
                   "is getting past the {object} like that a big deal? it looked huge"),
        "fail": ("oh no, was it the {np}? what happened?", "is the {named} always that hard? poor guy",
                 "wait why did the {move} go wrong? it looked fine to me"),
        "big_laugh": ("lol the {act} got me, why is it so funny?", "wait what happened with the {np}? everyone is laughing"),
        "chat_question": ("is the {spot} the scary option? i'd play it safe", "what happens if the {move} goes wrong?"),
        "scene_change": ("ooh the {place}! is this part hard?", "wait what's the {named}? it looks so cool"),
        "chat_spike": ("wait is everyone talking about the {np}? what did i miss?", "chat went crazy over the {np}, did i miss something?"),
        "greet": ("welcome back! i'm so excited for today", "yay welcome back! what are we doing today?"),
    },
    "framedatafelix": {
        "clutch": ("the {move} went through with {frames} frames to spare, that's a gold", "clutch through the {spot}, still -0:0{d} vs PB",
                   "survived the {object} and kept gold pace, textbook",
                   "beat the {foe} at one hp, split is still gold", "the {foe} went down clean, -0:0{d} vs PB"),
        "fail": ("the {spot} cost about {secs}s, that's the run", "lost the run to the {named}, that's {secs}s you don't get back",
                 "the {named} is the run killer on this route, happens"),
        "big_laugh": ("the {act} was funny but that's {secs}s of timeloss right there", "lmao the {np}, good content, bad splits for the run"),
        "chat_question": ("the {spot} saves {secs}s, worth it if you're ahead of pace", "go for the {move}, tight window but the timesave is real"),
        "scene_change": ("the {spot} split is next, sum of best drops here", "up next the {spot}, target is -0:0{d} vs PB"),
        "chat_spike": ("chat's spamming about the {np}, meanwhile the timer keeps running", "everyone's on the {np}, the split is what matters"),
        "greet": ("welcome back, splits are loaded and the sum of best is in reach", "welcome back, same route as last time, watch the late splits"),
    },
    "loregoblin": {
        "clutch": ("ok but surviving the {object} is exactly what the old prophecy describes, isn't it?",
                   "notice how the {object} spared him at the last moment, is the game on his side?"),
        "fail": ("ok but the {object} took him just like the legend says, is it cursed?",
                 "notice how the {foe} always strikes right after a skip, is the game punishing us?"),
        "big_laugh": ("ok but even the {np} seems to be in on the joke, is the game laughing with us?",
                      "notice how the {np} made everyone laugh at once, is that part of the ritual?"),
        "chat_question": ("ok but the {spot} is the path the ancient heroes took, so isn't it the canon choice?",
                          "notice how the game tempts him with the {spot}, what is it really testing?"),
        "scene_change": ("ok but the {place} is where the first king vanished, why does nobody talk about that?",
                         "notice how the music changes around the {place}, what are they hiding here?"),
        "chat_spike": ("ok but chat exploding over the {np} is exactly what the prophecy predicted, right?",
                       "notice how everyone saw the {np} at once, are we all part of the lore now?"),
        "greet": ("welcome back, ok but did anyone else notice the new runes on the title screen?",
                  "welcome back everyone! has anyone solved the mural theory since last time?"),
    },
    "snackattacksam": {
        "clutch": ("that {spot} clutch was sweeter than dessert", "survived the {object}, time for a victory snack",
                   "the {foe} got served like a hot plate of fries", "beat the {foe}, that's dessert earned"),
        "fail": ("the {object} ate that run like a snack", "the {object} burnt that run like toast"),
        "big_laugh": ("the {np} had me spitting out my soda", "lmao the {np}, i dropped a whole nacho"),
        "chat_question": ("the {spot} is the spicy option, go for it", "go for the {spot}, fortune favours the hungry"),
        "scene_change": ("the {spot} is up next, perfect time for popcorn", "the {place} looks like a snack bar, i'm hungry"),
        "chat_spike": ("chat is eating up the {np} like free pizza", "everyone is hungry for the {np} all of a sudden"),
        "greet": ("welcome back, i brought nachos this time", "welcome back chat, the snacks are ready"),
    },
    "basslinebea": {
        "clutch": ("the {move} landed right on the downbeat, perfect timing", "that {spot} clutch deserves its own drum roll",
                   "the {foe} went down right on the last beat, perfect", "beating the {foe} on the drop, the soundtrack knew"),
        "fail": ("the music dipped right at the {named}, brutal timing", "the bassline went sad the moment the {move} happened"),
        "big_laugh": ("the {act} landed on the beat, comedy in perfect time", "laughing at the {np} in four four time"),
        "chat_question": ("the {spot} lines up with the drop, i'd take it", "take the {spot}, the music is building right up to it"),
        "scene_change": ("the {place} has a great track, turn it up", "new track for the {place}, listen to that bassline"),
        "chat_spike": ("the whole chat hit a crescendo over the {np}", "the {np} has chat going at double tempo"),
        "greet": ("welcome back, the intro track is already a vibe", "welcome back everyone, the music is on and it slaps"),
    },
    "grumpygramps": {
        "clutch": ("back in my day the {object} would've ended the run, but fine, well played kid",
                   "in my day surviving the {object} meant blowing on the cartridge first, nice one"),
        "fail": ("in my day the {object} took our quarters too, some things never change",
                 "back in my day the {named} would've sent you straight back to the title screen"),
        "big_laugh": ("in my day we laughed at the {np} too, we just did it quietly",
                      "back in my day the {thing} was the joke of the whole arcade, still is"),
        "chat_question": ("in my day we'd never risk the {spot}, we played it safe and finished",
                          "back in my day nobody asked chat about the {np}, we just played"),
        "scene_change": ("in my day the {place} came on a second disk, so be grateful",
                         "back in my day the {place} had no checkpoints and we liked it"),
        "chat_spike": ("back in my day nobody spammed about the {np}, we wrote letters",
                       "in my day chat didn't lose its mind over the {np}, we had manners"),
        "greet": ("back in my day we never said welcome back, we never left the couch",
                  "in my day streams didn't take breaks, but fine, welcome back"),
    },
    "memelordmax": {
        "clutch": ("the {foe} got absolutely humbled", "nobody: / the {np}: plot armor", "the {np} arc ends in victory"),
        "fail": ("the {np} has left the chat", "speedrun to the {object} and straight to game over", "the {object} said skill issue"),
        "big_laugh": ("the {np} is peak comedy", "we need the {np} on a t-shirt"),
        "chat_question": ("chat will pick the {spot}, chat always picks chaos", "the {spot} or nothing, for the content"),
        "scene_change": ("the {named} arc begins", "welcome to the {place}, population: pain"),
        "chat_spike": ("chat discovered the {np} and lost it", "the {np} broke chat"),
        "greet": ("welcome back to the content", "and we're back, the sequel"),
    },
    "backseatbarb": {
        "clutch": ("see, that's how you handle the {named}", "told you the {spot} was doable, keep it up",
                   "you finally waited for the {foe}, that's how it's done", "see, patience beat the {foe}, keep doing that"),
        "fail": ("I told you to respect the {object}", "slow down before the {spot} next time"),
        "big_laugh": ("the {move} isn't a joke, practice it", "stop giggling about the {np}, eyes on the run"),
        "chat_question": ("don't risk the {move}, just play safe", "ignore chat, the {spot} isn't worth it"),
        "scene_change": ("careful with the {spot}, no rushing", "take the {place} slowly this time"),
        "chat_spike": ("chat, stop spamming about the {np}", "everyone calm down about the {np}, let him focus"),
        "greet": ("welcome back, now take the safe route this time", "welcome back, and reset if the first split is bad"),
    },
}


def lines_merge(banks: dict[str, Bank], lines: dict[str, Bank]) -> None:
    """Add each persona's extra lines to its bank, in place (once, at import of banks.py)."""
    for handle, extra in lines.items():
        bank = banks[handle]
        for concept, added in extra.items():
            bank[concept] = tuple(dict.fromkeys(bank.get(concept, ()) + added))

"""Banks for personas without a bank of their own (made by moderators in admin), one per length tier.

The voice (voice.py) picks the tier from the card's length and adds its casing, openers, emotes and
catchphrases; {vocab} is a word from the card's style notes ("music vocabulary (tempo, drop)").
Slots as in banks.py.
"""
from __future__ import annotations

from chatter_site.lib.offline_llm.banks import Bank

SHORT: Bank = {
    "clutch": ("no way", "what a save", "clutch", "he did it", "huge play", "that {np} though"),
    "fail": ("oof", "rip", "unlucky", "so close", "next time", "not the {np}"),
    "big_laugh": ("i'm crying", "so funny", "lmao stop", "clip that"),
    "chat_question": ("go for it", "play it safe", "risk it", "the {spot}"),
    "scene_change": ("new level", "here we go", "{place} time", "ooh fresh area"),
    "chat_spike": ("chat is wild", "so much spam", "chat woke up"),
    "wave": ("joining in", "spam it", "everyone together"),
    "idle": ("vibes", "good run", "locked in", "the {named} looks good", "watching closely", "we ball"),
    "loved": ("{topic} time", "love {topic}", "more {topic}"),
    "hated": ("not {hated}", "ugh, {hated}"),
    "ask_chat": ("thoughts chat?", "who's still here?"),
    "reply": ("true", "fair", "agreed", "real", "nah"),
    "answer_yesno": ("yes", "for sure", "probably", "nope"),
    "answer_opinion": ("loved it", "pretty good", "solid {q}"),
    "answer_rate": ("{score}", "a solid {score}"),
    "answer_should": ("keep going", "reset"),
    "answer_count": ("a lot", "too many"),
    "answer_what": ("no clue", "not sure"),
}

MEDIUM: Bank = {
    "clutch": ("no way he pulled that off", "that {move} was actually insane", "what a save, i was not ready for that",
               "one hp and he still won it", "that was the play of the night"),
    "fail": ("oof, the {spot} did not go to plan", "so close, that one hurt", "unlucky, he had that run going",
             "that {spot} has been rough all night", "happens to the best of them"),
    "big_laugh": ("that was way funnier than it should be", "i can't stop laughing at that", "chat is dying right now"),
    "chat_question": ("i'd go for the {move} honestly", "play it safe, there's no rush", "chat always picks the risky option"),
    "scene_change": ("new area, let's see how this goes", "the {named} looks tricky", "finally a fresh level"),
    "chat_spike": ("chat is moving so fast right now", "everyone woke up at once"),
    "wave": ("love when chat all does the same thing", "okay i'm joining the wave"),
    "idle": ("this run is looking really clean", "the {named} has been the highlight so far", "keeping an eye on the {np}",
             "everyone keeps talking about the {np}", "ok the {np} part was good", "{np} talk again, love it",
             "good stream today honestly", "the pace feels better than last time"),
    "loved": ("{topic} is always the best part", "i could watch {topic} all day"),
    "hated": ("can we skip the {hated} please", "{hated} again? really?"),
    "ask_chat": ("what does everyone think so far?", "how long have you all been watching?"),
    "reply": ("yeah that's fair", "good point honestly", "i don't know about that one", "same, exactly what i thought"),
    "answer_yesno": ("yes, i think so", "honestly yes", "probably not, but close"),
    "answer_opinion": ("the {q} was pretty great honestly", "i liked it a lot", "better than i expected"),
    "answer_rate": ("i'd give the {q} a {score}", "{score}, easily"),
    "answer_should": ("i'd keep going", "i'd reset and try again"),
    "answer_count": ("more than i can count", "quite a few by now"),
    "answer_what": ("no idea honestly, anyone know?", "not sure, i was wondering the same"),
}

LONG: Bank = {
    "clutch": ("That {move} was one of the cleanest finishes I have seen on this stream in a while.",
               "Winning that on one hit point is the kind of moment people will talk about for weeks.",
               "I honestly did not think that was going to work, and I am very happy to be wrong."),
    "fail": ("That {spot} has been the sticking point all night, and it bit again just now.",
             "Losing the run there is painful, but the rest of it looked genuinely promising.",
             "It was a good attempt until the very end, which somehow makes it hurt more."),
    "big_laugh": ("I will admit that was funny, and the whole chat seems to agree with me.",
                  "That moment was so absurd that I think it deserves a place in the highlights."),
    "chat_question": ("If I had to choose, I would take the {move}, because the reward is worth the risk.",
                      "Playing it safe is the sensible answer, even if chat will never pick it."),
    "scene_change": ("A new section is always interesting, because nobody knows how this part will go.",
                     "The {place} looks like it will need a completely different approach from the last part."),
    "chat_spike": ("Chat suddenly moving this fast usually means something big just happened on stream.",),
    "wave": ("It is oddly charming when the whole chat agrees on the same emote at the same time.",),
    "idle": ("The {named} has quietly been the most interesting part of the stream so far.",
             "This run feels steadier than the earlier ones, and the pace seems to show it.",
             "I keep coming back to the {spot}, because that is where this run will be decided.",
             "Everyone keeps coming back to the {np}, and honestly I understand why.",
             "It is a good stream today, and the chat has been unusually pleasant as well."),
    "loved": ("I could happily talk about {topic} for the rest of the stream, honestly.",
              "Any time {topic} comes up, I find myself paying much closer attention."),
    "hated": ("I would be perfectly happy to never see {hated} again on this stream.",),
    "ask_chat": ("I am curious what everyone here thinks about the route so far, honestly.",),
    "reply": ("That is a fair point, and I think I agree with you more than I expected to.",
              "I see what you mean, although I would look at it a little differently."),
    "answer_yesno": ("Yes, I think so, and it looked even better than the last attempt.",
                     "Probably not, but it was closer than most people in chat would admit."),
    "answer_opinion": ("The {q} was better than I expected, and I expected quite a lot from it.",
                       "I thought it was genuinely good, with a couple of small mistakes along the way."),
    "answer_rate": ("I would give the {q} a {score}, which is a very respectable score from me.",),
    "answer_should": ("I would keep going, because practice on the later sections is worth a lot.",
                      "I would reset now, since the later sections leave very little room to recover."),
    "answer_count": ("I have lost count by now, but it is certainly more than a handful.",),
    "answer_what": ("I honestly do not know, but I would love to hear if anyone here does.",),
}

# Lines that name the moment a reaction is about (typed slots as in moment_banks.py), and greetings for a
# streamer's "welcome back" (chat.py's `_reacting`), per tier.
MOMENT_LINES: dict[str, Bank] = {
    "short": {
        "clutch": ("the {np}, wow", "beat the {object}"), "fail": ("rip, the {np}", "the {np} again"),
        "big_laugh": ("the {np} lol", "clip the {act}"), "chat_question": ("take the {spot}",),
        "scene_change": ("the {named} now", "ooh, the {np}"), "chat_spike": ("chat saw the {np}",),
        "greet": ("welcome back", "we're back", "welcome back chat"),
    },
    "medium": {
        "clutch": ("he beat the {object}, i can't believe it", "the {move} went perfectly, wow"),
        "fail": ("the {object} got him again, unlucky", "that {named} is brutal tonight"),
        "big_laugh": ("the {np} had me laughing so hard", "okay the {act} was hilarious"),
        "chat_question": ("the {spot} seems worth the risk to me",),
        "scene_change": ("the {spot} is next, this should be fun", "here comes the {np}"),
        "chat_spike": ("everyone is talking about the {np} now",),
        "greet": ("welcome back, good to see you all", "welcome back everyone, let's go"),
    },
    "long": {
        "clutch": ("Getting past the {object} like that was one of the best moments of the stream so far.",),
        "fail": ("The {named} ended that attempt, which is a shame, because the run looked promising.",),
        "big_laugh": ("The {np} turned into the funniest moment of the stream, and I am still laughing.",),
        "chat_question": ("The {spot} seems worth the risk to me, as long as the run is still on pace.",),
        "scene_change": ("The {spot} is next, and I am curious to see how this part of the run goes.",),
        "chat_spike": ("Everyone in chat seems to be talking about the {np} at once, which is fair enough.",),
        "greet": ("Welcome back, everyone; it is good to see the stream running again.",
                  "Welcome back, and I hope the break was as relaxing as it sounded."),
    },
}

GENERIC_BANKS: dict[str, Bank] = {"short": SHORT, "medium": MEDIUM, "long": LONG}
for _tier, _extra in MOMENT_LINES.items():
    for _concept, _lines in _extra.items():
        GENERIC_BANKS[_tier][_concept] = GENERIC_BANKS[_tier].get(_concept, ()) + _lines

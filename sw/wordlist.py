"""Vocabulary and sentence templates of the two corpus tasks (written for asrhw, no downloads).

``digits``: connected digit strings over :data:`DIGIT_WORDS`.
``words``: sentences generated from :data:`TEMPLATES`; each ``{slot}`` is filled with a word or
phrase from :data:`SLOTS`. All words are lowercase ASCII letters so espeak-ng reads them as
words (no spelled-out abbreviations, no numbers in digits). :func:`vocabulary` is the set of
every word a template can produce (more than 1,000).
"""

from __future__ import annotations

import random

__all__ = ["DIGIT_WORDS", "SLOTS", "TEMPLATES", "digit_sentence", "plural", "vocabulary",
           "word_sentence"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
               "oh")

# Countable things; plurals come from plural() below.
_NOUNS = """
apple table chair window door garden river mountain forest village city street road bridge
tower castle house cottage kitchen bedroom office school library museum market station airport
harbor island beach valley lake field farm barn fence gate wall roof floor carpet blanket pillow
basket bucket bottle cup plate bowl spoon fork knife kettle pot pan oven stove lamp candle mirror
picture painting clock watch phone camera radio computer printer keyboard screen book letter
pencil pen notebook envelope ticket map flag ball kite doll puzzle guitar piano drum violin
trumpet song story poem movie game car truck bus train boat ship plane bicycle wagon rocket
engine wheel horse cow pig sheep goat chicken duck goose rabbit dog cat mouse bird eagle owl
parrot snake frog turtle lion tiger bear wolf fox deer monkey elephant giraffe zebra camel
dolphin whale shark fish spider bee butterfly ant flower rose tulip tree leaf branch seed banana
orange lemon cherry grape melon peach pear potato tomato carrot onion pepper cabbage bean cookie
cake pie sandwich pizza egg noodle jacket coat shirt sweater dress skirt hat cap scarf glove
sock shoe boot belt button pocket ring necklace umbrella wallet purse suitcase backpack box
bag key lock hammer nail screw ladder rope chain shovel brush broom towel sponge soap bathtub
sink shower toilet closet drawer shelf cabinet desk sofa couch bench stool cushion curtain
balloon candy present gift card stamp coin dollar button needle thread ribbon feather shell
stone rock pebble crystal diamond jewel crown sword shield arrow helmet tent cabin hut palace
temple church chapel hospital hotel restaurant bakery shop store factory garage warehouse
stadium theater tunnel canal pond stream ocean desert jungle meadow hill cliff cave volcano
planet star moon cloud storm rainbow puddle snowman fountain statue pyramid lighthouse windmill
tractor helicopter canoe raft sled scooter ambulance taxi subway trolley cart barrel crate
bag jar jug mug glass teapot toaster blender fridge freezer heater fan vacuum iron pillowcase
envelope magazine newspaper calendar diary dictionary album photo poster sticker crayon marker
eraser ruler scissors glue tape folder stapler globe telescope microscope compass magnet
battery wire bulb switch socket robot drone
"""

_IRREGULAR_PLURALS = {
    "knife": "knives", "leaf": "leaves", "wolf": "wolves", "mouse": "mice", "goose": "geese",
    "sheep": "sheep", "deer": "deer", "fish": "fish", "shelf": "shelves", "potato": "potatoes",
    "tomato": "tomatoes", "volcano": "volcanoes", "child": "children", "man": "men",
    "woman": "women", "person": "people", "foot": "feet", "tooth": "teeth", "scissors": "scissors",
    "glass": "glasses", "scarf": "scarves",
}

# Things that take "some" rather than "a".
_MASS_NOUNS = """
bread butter cheese milk water juice coffee tea soup rice sugar salt flour honey jam sand
snow rain mud grass hay wood paper cotton wool silk gold silver music furniture luggage
"""

_PEOPLE = """
mother father sister brother uncle aunt cousin friend neighbor teacher doctor farmer baker
driver pilot nurse lawyer painter singer soldier captain king queen prince princess boy girl
child man woman person student artist author dancer sailor farmer gardener plumber carpenter
dentist chef waiter clerk manager engineer scientist professor guard judge mayor wizard giant
"""

_NAMES = """
alice anna barbara betty carol clara diana donna ella emily emma fiona grace hannah helen irene
jane julia karen laura linda lucy maria martha mary nancy nora olivia paula rachel rose ruth
sarah susan tina vera wendy adam albert andrew arthur benjamin bob carl charles daniel david
edward frank fred george harry henry jack james john kevin larry leo martin michael nathan
oliver oscar patrick paul peter robert roger sam simon steven thomas victor walter william
"""

_ADJECTIVES = """
red blue green yellow purple brown black white gray pink golden silver big small tiny huge
tall short long wide narrow heavy light old new young ancient modern bright dark quiet loud
soft hard smooth rough warm cold hot cool wet dry clean dirty empty full fresh rotten sweet sour
bitter salty spicy tasty happy sad angry calm brave shy clever silly lazy busy friendly gentle
proud lucky famous strange simple fancy plain pretty ugly handsome beautiful lovely cheap
expensive rich poor strong weak sharp dull broken wooden plastic metal round square flat thick
thin deep shallow early late quick slow fast noisy sleepy hungry thirsty tired sick healthy
careful honest polite rude funny serious curious nervous secret special perfect favorite little
giant shiny fluffy striped spotted crooked crowded hidden frozen rusty dusty muddy sandy sunny
rainy windy cloudy foggy stormy snowy purple magic useful useless colorful enormous delicate
fragile precious valuable wild tame loyal jolly cheerful grumpy
"""

# base:past pairs of transitive verbs.
_VERBS = """
find:found paint:painted open:opened close:closed carry:carried push:pushed pull:pulled
lift:lifted drop:dropped throw:threw catch:caught kick:kicked wash:washed clean:cleaned fix:fixed
break:broke build:built buy:bought sell:sold bring:brought take:took give:gave send:sent
write:wrote draw:drew cook:cooked bake:baked eat:ate drink:drank cut:cut fold:folded hide:hid
keep:kept lose:lost borrow:borrowed lend:lent steal:stole watch:watched see:saw hear:heard
touch:touched hold:held move:moved turn:turned fill:filled pack:packed wrap:wrapped mend:mended
polish:polished count:counted measure:measured weigh:weighed check:checked order:ordered
choose:chose pick:picked grab:grabbed shake:shook taste:tasted smell:smelled climb:climbed
cross:crossed visit:visited leave:left love:loved like:liked hate:hated want:wanted need:needed
remember:remembered forget:forgot follow:followed chase:chased feed:fed ride:rode drive:drove
park:parked load:loaded stack:stacked sort:sorted plant:planted burn:burned boil:boiled
fry:fried slice:sliced peel:peeled mix:mixed stir:stirred pour:poured spill:spilled drag:dragged
hit:hit knock:knocked lock:locked unlock:unlocked answer:answered call:called help:helped
show:showed play:played print:printed copy:copied share:shared return:returned
deliver:delivered collect:collected gather:gathered invite:invited greet:greeted thank:thanked
blame:blamed praise:praised admire:admired ignore:ignored notice:noticed describe:described
protect:protected guard:guarded save:saved rescue:rescued repair:repaired replace:replaced
remove:removed test:tested study:studied fetch:fetched hug:hugged kiss:kissed scrub:scrubbed
sweep:swept dig:dug bury:buried tie:tied untie:untied bend:bent tear:tore sew:sewed knit:knitted
hang:hung rent:rented own:owned earn:earned spend:spent win:won sign:signed mail:mailed
"""

# base:past pairs of intransitive verbs.
_INTRANSITIVE = """
arrive:arrived laugh:laughed smile:smiled wait:waited sleep:slept dance:danced jump:jumped
swim:swam run:ran walk:walked shout:shouted whisper:whispered cry:cried sit:sat stand:stood
fall:fell rest:rested work:worked travel:traveled stay:stayed hurry:hurried wander:wandered
listen:listened sing:sang cheer:cheered sneeze:sneezed cough:coughed yawn:yawned shiver:shivered
kneel:knelt crawl:crawled march:marched skate:skated ski:skied sail:sailed fly:flew float:floated
"""

_ADVERBS = """
quickly slowly carefully quietly loudly happily sadly suddenly finally gently softly proudly
eagerly calmly bravely politely nervously safely easily rarely often always never sometimes
usually together alone again later soon twice badly kindly warmly angrily secretly
"""

_PREPOSITIONS = "in on under behind near beside above below inside outside across past into"

_TIMES = """
yesterday today tomorrow tonight
on+monday on+tuesday on+wednesday on+thursday on+friday on+saturday on+sunday
in+the+morning in+the+afternoon in+the+evening at+night at+noon at+midnight
last+week last+month last+year next+week next+month next+year this+morning this+evening
every+day every+week in+january in+february in+march in+april in+may in+june in+july
in+august in+september in+october in+november in+december in+spring in+summer in+autumn
in+winter before+lunch after+dinner after+breakfast
"""

_NUMBERS = """
two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
"""

_QUESTION_WORDS = "where when why how"


def plural(noun: str) -> str:
    """English plural of a noun of this list (regular rules + the irregular table)."""
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _split(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))  # unique, first-seen order (deterministic)


_NOUN_LIST = _split(_NOUNS)
_VERB_PAIRS = tuple(tuple(p.split(":")) for p in _split(_VERBS))
_INTRANSITIVE_PAIRS = tuple(tuple(p.split(":")) for p in _split(_INTRANSITIVE))

SLOTS: dict[str, tuple[str, ...]] = {
    "noun": _NOUN_LIST,
    "nouns": tuple(dict.fromkeys(plural(n) for n in _NOUN_LIST)),
    "mass": _split(_MASS_NOUNS),
    "person": _split(_PEOPLE),
    "name": _split(_NAMES),
    "adj": _split(_ADJECTIVES),
    "verb": tuple(b for b, _ in _VERB_PAIRS),
    "verbed": tuple(dict.fromkeys(p for _, p in _VERB_PAIRS)),
    "act": tuple(b for b, _ in _INTRANSITIVE_PAIRS),
    "acted": tuple(p for _, p in _INTRANSITIVE_PAIRS),
    "adv": _split(_ADVERBS),
    "prep": _split(_PREPOSITIONS),
    "time": tuple(t.replace("+", " ") for t in _split(_TIMES)),
    "number": _split(_NUMBERS),
    "wh": _split(_QUESTION_WORDS),
}

TEMPLATES: tuple[str, ...] = (
    "the {adj} {noun} is {prep} the {noun}",
    "{name} {verbed} the {adj} {noun} {time}",
    "{name} {verbed} a {noun} {prep} the {noun}",
    "please {verb} the {adj} {nouns}",
    "please {verb} the {noun} {prep} the {noun}",
    "my {person} {verbed} {number} {adj} {nouns}",
    "the {person} {acted} {adv} {time}",
    "{name} and {name} {acted} {prep} the {noun}",
    "did you {verb} the {noun} {time}",
    "we will {verb} some {mass} {time}",
    "{wh} did the {person} {verb} the {nouns}",
    "there are {number} {nouns} {prep} the {adj} {noun}",
    "i {adv} {verbed} the {person} a {adj} {noun}",
    "{name} {adv} {acted} with the {adj} {person}",
    "the {nouns} were {adj} and {adj} {time}",
    "can you {verb} my {noun} and the {mass}",
    "our {person} has a {adj} {noun} and {number} {nouns}",
    "they {verbed} {name} {prep} the {adj} {noun}",
)


def vocabulary() -> frozenset[str]:
    """Every word a template can produce."""
    words = set()
    for template in TEMPLATES:
        words.update(w for w in template.split() if not w.startswith("{"))
    for values in SLOTS.values():
        for value in values:
            words.update(value.split())
    return frozenset(words)


def digit_sentence(rng: random.Random, *, min_words: int = 1, max_words: int = 7) -> tuple:
    """A connected-digit string of ``min_words..max_words`` words."""
    return tuple(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(min_words, max_words)))


def word_sentence(rng: random.Random) -> tuple:
    """A sentence of the ``words`` task: a random template with random slot fillers."""
    template = rng.choice(TEMPLATES)
    words = []
    for token in template.split():
        if token.startswith("{"):
            words.extend(rng.choice(SLOTS[token[1:-1]]).split())
        else:
            words.append(token)
    return tuple(words)

"""A small English lexicon with CMUdict ARPAbet pronunciations, and a toy sentence grammar.

Pronunciations follow CMUdict with the stress digits removed (``AH0`` -> ``AH``); where
CMUdict lists several, the first common one is kept. Each word carries one or more
part-of-speech tags that the grammar below uses, so that transcripts have structure a
language model can learn (HW4P2 pretrains its decoder on such text).
"""
from __future__ import annotations

import numpy as np

# "# TAG" starts a group; each line is "WORD  PH PH ...". A word may appear in several groups
# (it must then have the same pronunciation).
_DATA = """
# DET
THE  DH AH
A  AH
THIS  DH IH S
THAT  DH AE T
EVERY  EH V R IY
SOME  S AH M
NO  N OW
HIS  HH IH Z
HER  HH ER
MY  M AY
YOUR  Y AO R
OUR  AW ER
THEIR  DH EH R
ONE  W AH N
EACH  IY CH
ANOTHER  AH N AH DH ER
# ADJ
OLD  OW L D
YOUNG  Y AH NG
LITTLE  L IH T AH L
BIG  B IH G
SMALL  S M AO L
GREAT  G R EY T
LONG  L AO NG
SHORT  SH AO R T
HIGH  HH AY
LOW  L OW
GOOD  G UH D
BAD  B AE D
NEW  N UW
DARK  D AA R K
BRIGHT  B R AY T
COLD  K OW L D
WARM  W AO R M
HOT  HH AA T
QUIET  K W AY AH T
LOUD  L AW D
HAPPY  HH AE P IY
SAD  S AE D
STRANGE  S T R EY N JH
BEAUTIFUL  B Y UW T AH F AH L
POOR  P UH R
RICH  R IH CH
WHITE  W AY T
BLACK  B L AE K
RED  R EH D
GREEN  G R IY N
BLUE  B L UW
GOLDEN  G OW L D AH N
EMPTY  EH M P T IY
HEAVY  HH EH V IY
SOFT  S AO F T
STRONG  S T R AO NG
GENTLE  JH EH N T AH L
BRAVE  B R EY V
WISE  W AY Z
TIRED  T AY ER D
FRESH  F R EH SH
SILENT  S AY L AH N T
DEEP  D IY P
WIDE  W AY D
THICK  TH IH K
THIN  TH IH N
SWEET  S W IY T
CLEAR  K L IH R
FAMOUS  F EY M AH S
ANCIENT  EY N CH AH N T
PLEASANT  P L EH Z AH N T
SIMPLE  S IH M P AH L
CAREFUL  K EH R F AH L
CURIOUS  K Y UH R IY AH S
FOOLISH  F UW L IH SH
HONEST  AA N AH S T
LONELY  L OW N L IY
NARROW  N EH R OW
FAITHFUL  F EY TH F AH L
SUDDEN  S AH D AH N
USUAL  Y UW ZH AH W AH L
# NOUN
MAN  M AE N
WOMAN  W UH M AH N
CHILD  CH AY L D
BOY  B OY
GIRL  G ER L
KING  K IH NG
QUEEN  K W IY N
FATHER  F AA DH ER
MOTHER  M AH DH ER
BROTHER  B R AH DH ER
SISTER  S IH S T ER
FRIEND  F R EH N D
DOCTOR  D AA K T ER
SOLDIER  S OW L JH ER
CAPTAIN  K AE P T AH N
STRANGER  S T R EY N JH ER
NEIGHBOR  N EY B ER
HOUSE  HH AW S
ROOM  R UW M
DOOR  D AO R
WINDOW  W IH N D OW
TABLE  T EY B AH L
CHAIR  CH EH R
BOOK  B UH K
LETTER  L EH T ER
PAPER  P EY P ER
LAMP  L AE M P
FIRE  F AY ER
WATER  W AO T ER
RIVER  R IH V ER
SEA  S IY
SHIP  SH IH P
BOAT  B OW T
ROAD  R OW D
STREET  S T R IY T
CITY  S IH T IY
TOWN  T AW N
VILLAGE  V IH L IH JH
GARDEN  G AA R D AH N
FOREST  F AO R AH S T
HILL  HH IH L
MOUNTAIN  M AW N T AH N
FIELD  F IY L D
TREE  T R IY
FLOWER  F L AW ER
STONE  S T OW N
BRIDGE  B R IH JH
CHURCH  CH ER CH
SCHOOL  S K UW L
CASTLE  K AE S AH L
ISLAND  AY L AH N D
OCEAN  OW SH AH N
CAVE  K EY V
HORSE  HH AO R S
DOG  D AO G
CAT  K AE T
BIRD  B ER D
FISH  F IH SH
SUN  S AH N
MOON  M UW N
STAR  S T AA R
SKY  S K AY
RAIN  R EY N
SNOW  S N OW
WIND  W IH N D
NIGHT  N AY T
DAY  D EY
MORNING  M AO R N IH NG
EVENING  IY V N IH NG
WINTER  W IH N T ER
SUMMER  S AH M ER
YEAR  Y IH R
HOUR  AW ER
MOMENT  M OW M AH N T
STORY  S T AO R IY
SONG  S AO NG
VOICE  V OY S
NOISE  N OY Z
JOY  JH OY
FACE  F EY S
HAND  HH AE N D
HEAD  HH EH D
HEART  HH AA R T
EYES  AY Z
MIND  M AY N D
NAME  N EY M
WORD  W ER D
LIGHT  L AY T
SHADOW  SH AE D OW
BREAD  B R EH D
MONEY  M AH N IY
GOLD  G OW L D
SWORD  S AO R D
KEY  K IY
BOX  B AA K S
BELL  B EH L
COAT  K OW T
HAT  HH AE T
SHOE  SH UW
GLASS  G L AE S
PICTURE  P IH K CH ER
JOURNEY  JH ER N IY
ANSWER  AE N S ER
QUESTION  K W EH S CH AH N
TRUTH  T R UW TH
DREAM  D R IY M
THOUGHT  TH AO T
PATH  P AE TH
WALL  W AO L
CROWD  K R AW D
TREASURE  T R EH ZH ER
PLEASURE  P L EH ZH ER
VISION  V IH ZH AH N
# NAME
MARY  M EH R IY
JOHN  JH AA N
TOM  T AA M
ANNE  AE N
JAMES  JH EY M Z
ALICE  AE L AH S
PETER  P IY T ER
HARRY  HH EH R IY
LUCY  L UW S IY
GEORGE  JH AO R JH
# VERB_T
SAW  S AO
TOOK  T UH K
FOUND  F AW N D
HELD  HH EH L D
KNEW  N UW
LEFT  L EH F T
LOVED  L AH V D
MADE  M EY D
MET  M EH T
OPENED  OW P AH N D
CLOSED  K L OW Z D
HEARD  HH ER D
KEPT  K EH P T
BROUGHT  B R AO T
CALLED  K AO L D
FOLLOWED  F AA L OW D
HELPED  HH EH L P T
WROTE  R OW T
WATCHED  W AA CH T
CARRIED  K AE R IY D
PULLED  P UH L D
PUSHED  P UH SH T
TOUCHED  T AH CH T
REMEMBERED  R IH M EH M B ER D
FORGOT  F ER G AA T
WANTED  W AO N T AH D
NEEDED  N IY D AH D
BOUGHT  B AO T
SOLD  S OW L D
ASKED  AE S K T
DREW  D R UW
CAUGHT  K AO T
# VERB_I
CAME  K EY M
WENT  W EH N T
SAT  S AE T
STOOD  S T UH D
LAUGHED  L AE F T
WAITED  W EY T AH D
SMILED  S M AY L D
SLEPT  S L EH P T
FELL  F EH L
RAN  R AE N
SPOKE  S P OW K
TURNED  T ER N D
STOPPED  S T AA P T
LIVED  L IH V D
ROSE  R OW Z
CRIED  K R AY D
SANG  S AE NG
DANCED  D AE N S T
WALKED  W AO K T
RETURNED  R IH T ER N D
ARRIVED  ER AY V D
SHOUTED  SH AW T AH D
LISTENED  L IH S AH N D
WORKED  W ER K T
# VERB_BASE
SEE  S IY
TAKE  T EY K
FIND  F AY N D
KNOW  N OW
LEAVE  L IY V
MAKE  M EY K
MEET  M IY T
OPEN  OW P AH N
HEAR  HH IY R
KEEP  K IY P
BRING  B R IH NG
HOLD  HH OW L D
CALL  K AO L
FOLLOW  F AA L OW
HELP  HH EH L P
READ  R IY D
WRITE  R AY T
TELL  T EH L
GIVE  G IH V
LIKE  L AY K
CARRY  K AE R IY
FEEL  F IY L
UNDERSTAND  AH N D ER S T AE N D
REMEMBER  R IH M EH M B ER
CHANGE  CH EY N JH
# MODAL
COULD  K UH D
WOULD  W UH D
SHOULD  SH UH D
MIGHT  M AY T
WILL  W IH L
MUST  M AH S T
CAN  K AE N
CAN'T  K AE N T
DON'T  D OW N T
WON'T  W OW N T
DIDN'T  D IH D AH N T
COULDN'T  K UH D AH N T
# PRON_SUBJ
I  AY
HE  HH IY
SHE  SH IY
WE  W IY
THEY  DH EY
YOU  Y UW
# PRON_OBJ
HIM  HH IH M
HER  HH ER
THEM  DH EH M
ME  M IY
US  AH S
IT  IH T
# BE_SG
WAS  W AA Z
# BE_PL
WERE  W ER
# SUBJ_BE
I'M  AY M
HE'S  HH IY Z
SHE'S  SH IY Z
IT'S  IH T S
THAT'S  DH AE T S
WE'RE  W IY R
THEY'RE  DH EH R
YOU'RE  Y UH R
# DEGREE
VERY  V EH R IY
SO  S OW
TOO  T UW
QUITE  K W AY T
RATHER  R AE DH ER
# PREP
IN  IH N
ON  AA N
AT  AE T
WITH  W IH DH
FROM  F R AH M
INTO  IH N T UW
OVER  OW V ER
UNDER  AH N D ER
NEAR  N IH R
THROUGH  TH R UW
BY  B AY
FOR  F AO R
ABOUT  AH B AW T
AFTER  AE F T ER
BEFORE  B IH F AO R
BEHIND  B IH HH AY N D
TOWARD  T AH W AO R D
ACROSS  AH K R AO S
AROUND  ER AW N D
BESIDE  B IH S AY D
# ADV
THEN  DH EH N
AGAIN  AH G EH N
SOON  S UW N
NOW  N AW
HERE  HH IH R
THERE  DH EH R
TODAY  T AH D EY
SLOWLY  S L OW L IY
QUICKLY  K W IH K L IY
QUIETLY  K W AY AH T L IY
ALWAYS  AO L W EY Z
NEVER  N EH V ER
OFTEN  AO F AH N
ONCE  W AH N S
STILL  S T IH L
TOGETHER  T AH G EH DH ER
ALONE  AH L OW N
AWAY  AH W EY
HOME  HH OW M
YESTERDAY  Y EH S T ER D EY
TONIGHT  T AH N AY T
SUDDENLY  S AH D AH N L IY
# CONJ
AND  AH N D
BUT  B AH T
SO  S OW
WHEN  W EH N
WHILE  W AY L
BECAUSE  B IH K AO Z
AS  AE Z
UNTIL  AH N T IH L
# INTERJ
YES  Y EH S
OH  OW
WELL  W EH L
"""


def _parse(data: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    lexicon: dict[str, tuple[str, ...]] = {}
    by_tag: dict[str, list[str]] = {}
    tag = None
    for line in data.strip().splitlines():
        if line.startswith("#"):
            tag = line[1:].strip()
            by_tag[tag] = []
            continue
        word, *phones = line.split()
        if word in lexicon and lexicon[word] != tuple(phones):
            raise ValueError(f"lexicon: {word} has two pronunciations")
        lexicon[word] = tuple(phones)
        by_tag[tag].append(word)
    return lexicon, {t: tuple(ws) for t, ws in by_tag.items()}


LEXICON, WORDS_BY_TAG = _parse(_DATA)
"""LEXICON: word -> ARPAbet phonemes; WORDS_BY_TAG: part-of-speech tag -> words."""


def _pick(rng: np.random.Generator, tag: str) -> str:
    words = WORDS_BY_TAG[tag]
    return words[rng.integers(len(words))]


def _noun_phrase(rng: np.random.Generator, subject: bool) -> list[str]:
    r = rng.random()
    if r < 0.12:
        return [_pick(rng, "NAME")]
    if r < 0.3:
        return [_pick(rng, "PRON_SUBJ" if subject else "PRON_OBJ")]
    words = [_pick(rng, "DET")]
    if rng.random() < 0.45:
        words.append(_pick(rng, "ADJ"))
    return words + [_pick(rng, "NOUN")]


def _clause(rng: np.random.Generator) -> list[str]:
    """One clause of a toy grammar: subject, verb group, optional object/complement/modifier."""
    kind = rng.choice(5, p=[0.32, 0.22, 0.18, 0.18, 0.10])
    if kind == 0:    # the old man saw a dog [in the house]
        words = _noun_phrase(rng, True) + [_pick(rng, "VERB_T")] + _noun_phrase(rng, False)
    elif kind == 1:  # mary came [home | slowly | into the room]
        words = _noun_phrase(rng, True) + [_pick(rng, "VERB_I")]
        if rng.random() < 0.4:
            words.append(_pick(rng, "ADV"))
    elif kind == 2:  # she could find the key
        words = ([_pick(rng, "PRON_SUBJ"), _pick(rng, "MODAL"), _pick(rng, "VERB_BASE")]
                 + _noun_phrase(rng, False))
    elif kind == 3:  # it was very cold / we're happy
        if rng.random() < 0.5:
            words = [_pick(rng, "SUBJ_BE")]
        else:
            plural = rng.random() < 0.4
            subjects = ["WE", "THEY", "YOU"] if plural else ["HE", "SHE", "I"]
            words = [subjects[rng.integers(3)], "WERE" if plural else "WAS"]
        if rng.random() < 0.5:
            words.append(_pick(rng, "DEGREE"))
        words.append(_pick(rng, "ADJ"))
    else:            # then the girl smiled
        words = [_pick(rng, "ADV")] + _noun_phrase(rng, True) + [_pick(rng, "VERB_I")]
    if rng.random() < 0.35:
        words += [_pick(rng, "PREP")] + _noun_phrase(rng, False)
    return words


def sample_sentence(rng: np.random.Generator) -> list[str]:
    """A sentence: one clause, sometimes two joined by a conjunction, sometimes an interjection."""
    words = _clause(rng)
    if rng.random() < 0.3:
        words += [_pick(rng, "CONJ")] + _clause(rng)
    if rng.random() < 0.06:
        words = [_pick(rng, "INTERJ")] + words
    return words

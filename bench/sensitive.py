"""How long the check for sensitive text takes on a message of 200,000 characters.

Run on demand (the Makefile's ``bench`` target does not run it; add it there if wanted):

    .venv/bin/python -m bench.sensitive
    .venv/bin/python -m bench.sensitive --chars 50000 --repeat 9

:func:`core.sensitive.find_sensitive` runs on the GUI thread when a message is sent, so a
long paste must not freeze the window. Two kinds of text are timed:

* ordinary: the test corpus of ordinary chat (``tests/data/ordinary_chat.txt``, fourteen
  languages, code and logs) repeated, and the same with a card number, an IBAN and a
  password every 2,000 characters;
* hostile: one short unit repeated, chosen to make a careless pattern backtrack (long digit
  runs, runs of key characters, "password:" over and over, private key headers without
  material) or to make as many candidates as possible reach the checks written in Python
  (every "DE89 " a possible IBAN, every "bsn 111111111" a possible BSN).

It reports the median of ``--repeat`` runs for each, and the time per 1,000 characters, which
stays flat as the text grows when the work is linear (run it with ``--chars`` 50,000 and
200,000 to see). Ordinary text should stay well under 100 ms at 200,000 characters; hostile
text is allowed to be slower but must not grow faster than its length.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from core.sensitive import find_sensitive

CORPUS = Path(__file__).parent.parent / "tests" / "data" / "ordinary_chat.txt"
HOSTILE_UNITS = {
    "digits": "7",
    "spaced digits": "1 ",
    "card-like groups": "4111 ",
    "key characters": "aB3-",
    "slack prefixes": "xoxb-",
    "password keywords": "password: ",
    "password values": "pw:" + "a" * 197 + " ",
    "private key headers": "-----BEGIN " + "PRIVATE KEY-----",
    "IBAN starts": "DE89 ",
    "BSN candidates": "bsn 111111111 ",
    "numbers in URLs": "https://x/" + "1" * 16 + "/",
    "emoji": "😀",
    "lone surrogates": "\ud800",
    "bidi and digits": "\u202e4111",
}


def timed(text: str, repeat: int) -> float:
    """The median time of ``repeat`` checks of ``text``, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        find_sensitive(text)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def to_length(unit: str, chars: int) -> str:
    return (unit * (chars // len(unit) + 1))[:chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    chars, repeat = options.chars, options.repeat

    corpus = CORPUS.read_text(encoding="utf-8")
    secrets = " card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, password: hunter2 "
    seeded = "".join(corpus[i : i + 2000] + secrets for i in range(0, len(corpus), 2000))
    cases = {"ordinary chat": corpus, "ordinary chat with secrets": seeded}
    cases |= {f"hostile: {name}": unit for name, unit in HOSTILE_UNITS.items()}

    print(f"find_sensitive on {chars:,} characters, median of {repeat}:")
    for name, unit in cases.items():
        text = to_length(unit, chars)
        ms = timed(text, repeat)
        found = len(find_sensitive(text))
        print(f"  {name:<32} {ms:8.1f} ms  {ms / chars * 1000:6.3f} ms per 1,000  {found:6} found")


if __name__ == "__main__":
    main()

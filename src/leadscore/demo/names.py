"""Plausibly fake contact details: common given and family names, reserved domains and numbers.

Names are drawn uniformly and independently of everything else in the world.
E-mail domains are ``example.com`` (leads) and ``brokerage.example.com``
(agents), reserved for documentation; phone numbers use the 555-01xx block,
reserved for fiction.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = np.array(
    """Alex Jordan Taylor Morgan Casey Riley Jamie Avery Quinn Cameron Drew Hayden Reese Rowan Sam
    Charlie Emerson Finley Harper Kai Logan Parker Peyton Robin Sage Skyler Blake Dana Elliot Frankie
    Jesse Kendall Lee Marley Noel Oakley Remy River Shawn Sydney Toby Wren Ari Bailey Corey Devon
    Ellis Gray Jules Kerry Lane Micah Nico Pat Rory Sasha Terry Val Yael Zion""".split(),
    dtype=object,
)
LAST_NAMES = np.array(
    """Smith Johnson Lee Brown Garcia Miller Davis Wilson Anderson Thomas Moore Martin Jackson White
    Harris Clark Lewis Young Walker Hall Allen King Wright Scott Green Baker Adams Nelson Hill Campbell
    Mitchell Roberts Carter Phillips Evans Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers
    Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett
    Gray Hughes Price Sanders Myers Long Ross Foster Nguyen Kim Chen Patel Singh Silva Rossi Novak""".split(),
    dtype=object,
)
AREA_CODES = np.array(["206", "425", "253"], dtype=object)


def names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)], LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)]


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    area = AREA_CODES[rng.integers(0, len(AREA_CODES), n)]
    line = rng.integers(100, 200, n).astype(str).astype(object)
    return "+1 " + area + "-555-0" + line


def emails(first: np.ndarray, last: np.ndarray, number: np.ndarray, domain: str) -> np.ndarray:
    local = np.char.lower((first + "." + last).astype(str)).astype(object)
    return local + number.astype(str).astype(object) + ("@" + domain)

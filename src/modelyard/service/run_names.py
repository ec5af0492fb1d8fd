"""Readable random run names ("adjective-noun-NNN"), like MLflow's."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fancy",
    "gentle", "glad", "grand", "happy", "honest", "jolly", "keen", "kind", "lively", "lucky",
    "merry", "mighty", "neat", "nimble", "noble", "polite", "proud", "quick", "quiet", "rare",
    "shy", "silent", "smart", "steady", "sunny", "swift", "tidy", "upbeat", "vivid", "warm",
    "wise", "witty", "zesty", "amber", "azure", "silver", "golden", "scarlet", "misty", "rustic",
)
_NOUNS = (
    "ant", "bass", "bear", "bee", "bird", "boar", "cat", "colt", "crab", "crane", "deer", "dog",
    "dove", "duck", "eel", "elk", "finch", "fish", "fox", "frog", "goat", "hare", "hawk", "hen",
    "horse", "jay", "koi", "lark", "lion", "lynx", "mole", "moth", "mouse", "newt", "owl", "ox",
    "panda", "pig", "ram", "rat", "robin", "seal", "shark", "sheep", "slug", "snail", "swan",
    "tern", "toad", "trout", "vole", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
)


def generate_run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"

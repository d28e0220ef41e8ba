"""Category-name cleaning, applied identically to prompts, answers and ground-truth keys."""

from __future__ import annotations


def clean_category_name(name: str) -> str:
    """Clean a phrase the way the original Rex-Omni training did.

    Keeps the text before the first ``/``, turns ``_`` into spaces, deletes ``,``, strips
    surrounding whitespace and collapses inner runs of whitespace to one space:
    ``"traffic_light/signal"`` -> ``"traffic light"``, ``"red__circle"`` -> ``"red circle"``. Case is
    kept. The result may be empty; callers decide whether that is an error.

    The strip and the collapse are ours (the original turned ``"tree_"`` into ``"tree "`` and
    ``"red__circle"`` into ``"red  circle"``): every answer parser strips the phrase, so an unstripped
    name could never match its ground-truth key, and names that differ only in spacing are one
    phrase (one group in the question and the answer, their objects merged).
    """
    if not isinstance(name, str):
        raise TypeError(f"category name must be a str, got {type(name).__name__}")
    return " ".join(name.split("/", 1)[0].replace("_", " ").replace(",", "").split())

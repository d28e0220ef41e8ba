"""Category-name cleaning, applied identically to prompts, answers and ground-truth keys."""

from __future__ import annotations


def clean_category_name(name: str) -> str:
    """Clean a phrase the way the original Rex-Omni training did.

    Keeps the text before the first ``/``, turns ``_`` into spaces, deletes ``,`` and strips
    surrounding whitespace: ``"traffic_light/signal"`` -> ``"traffic light"``. The result may be
    empty; callers decide whether that is an error.

    The strip is ours (the original turned ``"tree_"`` into ``"tree "``): every answer parser strips
    the phrase, so an unstripped name could never match its ground-truth key.
    """
    if not isinstance(name, str):
        raise TypeError(f"category name must be a str, got {type(name).__name__}")
    return name.split("/", 1)[0].replace("_", " ").replace(",", "").strip()

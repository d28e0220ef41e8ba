"""Which parameters train: the tune_mm_vision / tune_mm_mlp / tune_mm_llm flags.

Every parameter belongs to exactly one part, decided by its name:

* ``merger``  names containing ``visual.merger.`` (the vision-language projector);
* ``vision``  other names containing ``visual.`` (patch embed, blocks);
* ``llm``     everything else: embeddings, decoder layers, final norm and ``lm_head``.

Tied embeddings: Rex-Omni-3B (like Qwen2.5-VL-3B) ties ``lm_head.weight`` to
``embed_tokens.weight``; both names point at one tensor, so they must share one flag. Both are in
``llm``, so ``tune_mm_llm`` decides them together and no combination of flags can ask for
"train the head but freeze the embeddings". (The original set ``lm_head.requires_grad`` on the
module, which did nothing.)
"""

from __future__ import annotations

import logging
from collections import defaultdict

from torch import nn

from modeling.parts import PARTS, part_of

logger = logging.getLogger(__name__)

def apply_freezing(model: nn.Module, tune_mm_vision: bool, tune_mm_mlp: bool, tune_mm_llm: bool) -> None:
    """Set ``requires_grad`` on every parameter from the flag of its part."""
    flags = {"vision": tune_mm_vision, "merger": tune_mm_mlp, "llm": tune_mm_llm}
    # remove_duplicate=False visits tied tensors under every name; they all share part "llm".
    for name, param in model.named_parameters(remove_duplicate=False):
        param.requires_grad_(flags[part_of(name)])


def _numel(param: nn.Parameter) -> int:
    """Element count, also for ZeRO-3 partitioned parameters (whose local shape is empty)."""
    return int(getattr(param, "ds_numel", param.numel()))


def trainable_summary(model: nn.Module) -> dict[str, dict[str, int]]:
    """Per part: ``{"trainable": n, "total": n}`` element counts (tied tensors counted once)."""
    summary: dict[str, dict[str, int]] = defaultdict(lambda: {"trainable": 0, "total": 0})
    for name, param in model.named_parameters():
        part = summary[part_of(name)]
        part["total"] += _numel(param)
        part["trainable"] += _numel(param) if param.requires_grad else 0
    return {p: dict(summary[p]) for p in PARTS if p in summary}


def log_trainable_summary(model: nn.Module) -> dict[str, dict[str, int]]:
    """Log the per-part trainable counts and return them."""
    summary = trainable_summary(model)
    for part, counts in summary.items():
        logger.info("%-6s trainable %12d / %12d parameters", part, counts["trainable"], counts["total"])
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    if tied:
        logger.info("lm_head is tied to embed_tokens: both follow tune_mm_llm")
    return summary

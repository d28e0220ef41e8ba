"""Copy of a demo model whose no-space word rows start near their space-prefixed twins.

    python bench/demo_sweep/tie_word_variants.py SRC_MODEL DST_MODEL

Rex-Omni answers ``red`` where the question says `` red``: two different tokens. Each row ``w`` with a
twin ``Ġw`` becomes ``0.8 * row(Ġw) + 0.6 * row(w)`` (embeddings are tied, so the LM head follows), a
prior a pretrained model has and a random one lacks. Used by ``bench/demo_sweep/sweep.sh``; it did not
make the demo localise (README, "What the quickstart shows today").
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

SPACE = "\u0120"  # byte-level BPE's marker for a leading space


def tie_word_variants(src: str, dst: str, own: float = 0.6, twin: float = 0.8) -> int:
    """Write the modified copy of ``src`` to ``dst``; returns the number of rows changed."""
    tokenizer = AutoTokenizer.from_pretrained(src)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(src)
    vocab = tokenizer.get_vocab()
    pairs = [(vocab[w], vocab[SPACE + w]) for w in vocab if not w.startswith(SPACE) and SPACE + w in vocab]
    rows = model.get_input_embeddings().weight
    plain, spaced = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    with torch.no_grad():
        rows[plain] = twin * rows[spaced] + own * rows[plain]
    model.save_pretrained(dst)
    for path in Path(src).iterdir():  # tokenizer, processor and chat template files
        if path.is_file() and path.suffix != ".safetensors" and path.name != "config.json":
            shutil.copy(path, dst)
    return len(pairs)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"tied {tie_word_variants(sys.argv[1], sys.argv[2])} no-space rows to their twins")

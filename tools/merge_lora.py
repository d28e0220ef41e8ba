"""Merge a LoRA adapter (an SFT or GRPO LoRA checkpoint) into its base model: a complete HF folder that
``Qwen2_5_VLForConditionalGeneration.from_pretrained`` loads with no peft installed.

Example: python tools/merge_lora.py --base IDEA-Research/Rex-Omni --adapter work_dirs/sft --output_dir work_dirs/sft_merged
"""

from __future__ import annotations

import argparse
import logging
import sys

from dataset.output_paths import check_output_paths
from modeling.adapter_folder import LoraMergeError, merge_lora

DTYPES = ("bf16", "fp16", "fp32")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True,
                        help="folder with adapter_config.json + adapter_model.safetensors (a LoRA checkpoint)")
    parser.add_argument("--output_dir", "--output", dest="output_dir", required=True,
                        help="folder to write the merged HF model to (--output: the old name)")
    parser.add_argument("--base", default=None,
                        help="base model folder (default: base_model_name_or_path in adapter_config.json)")
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="dtype of the merged weights (default: the base model's saved dtype)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Merge as described by the command line; returns the exit status (2 on a bad path)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    check_output_paths("merge_lora.py", dirs={"--output_dir": args.output_dir})
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(args.dtype)
    try:
        folder = merge_lora(args.adapter, args.output_dir, base=args.base, dtype=dtype, overwrite=args.overwrite)
    except LoraMergeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    logging.getLogger("merge_lora").info("merged model ready in %s", folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())

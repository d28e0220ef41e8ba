"""Merge a GRPO actor checkpoint (sharded DCP model + optimizer) into a Hugging Face model folder.

Reads only the model tensors from <local_dir>/dcp (any number of writer ranks), checks them against the
architecture in <local_dir>/huggingface/config.json, and writes safetensors next to the config, processor,
tokenizer and chat template saved with the checkpoint, so the folder loads with from_pretrained.

Example: python tools/merge_rl_checkpoints_to_hg_version.py --local_dir work_dirs/grpo/global_step_100/actor
"""

from __future__ import annotations

import argparse
import logging
import sys

from dataset.output_paths import check_output_paths
from tools.cli import OneLineArgumentParser
from verl.checkpoint_merge import DTYPES, CheckpointMergeError, merge_checkpoint, upload_to_hub

logger = logging.getLogger("merge_rl_checkpoints_to_hg_version")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--local_dir", required=True,
        help="the checkpoint's actor folder, global_step_<N>/actor (holds dcp/ and huggingface/)")
    parser.add_argument(
        "--output_dir", default=None,
        help="where to write the HF model folder (default: <local_dir>/huggingface, completed in place; "
        "<local_dir>/huggingface_merged for a LoRA checkpoint, whose adapter is merged into its base "
        "model); an existing folder keeps its non-weight files, its old weight files are replaced")
    parser.add_argument(
        "--dtype", choices=sorted(DTYPES), default=None,
        help="dtype of the written floating-point weights (default: the dtype in config.json, "
        "else the dtype stored in the checkpoint); config.json is updated to match")
    parser.add_argument(
        "--max_shard_size", default="5GB",
        help="largest safetensors file; bigger models are split into shards with an index (default: 5GB)")
    parser.add_argument(
        "--hf_upload_path", default=None,
        help="Hugging Face Hub repo id (user/name) to create if needed and upload the merged folder to; "
        "default: no upload (huggingface_hub is imported only when this is set)")
    parser.add_argument(
        "--private", action="store_true", help="with --hf_upload_path: create the Hub repo as private")
    args = parser.parse_args(argv)
    parser.require_dir("--local_dir", args.local_dir)
    check_output_paths("merge_rl_checkpoints_to_hg_version.py", dirs={"--output_dir": args.output_dir})
    return args


def main(argv: list[str] | None = None) -> int:
    """Merge (and optionally upload) as described by the command line; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        folder = merge_checkpoint(args.local_dir, output_dir=args.output_dir, dtype=args.dtype,
                                  max_shard_size=args.max_shard_size)
    except CheckpointMergeError as err:
        logger.error("%s", err)
        return 1
    logger.info("HF model ready in %s", folder)
    if args.hf_upload_path:
        url = upload_to_hub(folder, args.hf_upload_path, private=args.private)
        logger.info("uploaded to %s", url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

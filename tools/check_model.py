"""Check a Rex-Omni model folder before training; prints what SFT and GRPO will use.

Prints the coordinate-token mapping (first/last id, single-token check), vocabulary and embedding
sizes, tied embeddings, special-token ids, chat template and processor pixel limits; for a folder in the
published layout, which tokenizer loaders read it with the trained ids (this project's and transformers
4.51.3 slow) and which shift every added token by 1000 (transformers 4.51.3 fast, transformers 5). Exits 2 with a
one-line reason on anything that would silently train wrong (``<N>`` split into several tokens, a
many-to-one vocabulary, special-token ids that disagree with config.json, ids beyond the embedding).

Example: python tools/check_model.py work_dirs/models/rex-omni-demo
         python tools/check_model.py --config configs/sft.py      (the config's model_name_or_path)
"""

from __future__ import annotations

import argparse
import sys

from modeling.model_folder import ModelCheckError, run_model_check


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?", default=None,
                        help="model folder (config.json, weights, tokenizer and processor files), or a hub id "
                        "already in the local Hugging Face cache")
    parser.add_argument("--config", default=None,
                        help="an SFT config file: check its model_name_or_path (used when model_dir is not given)")
    args = parser.parse_args(argv)
    if (args.model_dir is None) == (args.config is None):
        parser.error("give exactly one of model_dir or --config")
    return args


def model_name_from_config(path: str) -> str:
    """``model_name_or_path`` of an mmengine SFT config; raises ``ModelCheckError`` when it has none."""
    from dataset.config_checks import DataConfigError, load_data_config

    try:
        name = load_data_config(path).get("model_name_or_path")
    except DataConfigError as exc:
        raise ModelCheckError(f"cannot read the config: {exc}") from None
    if not name:
        raise ModelCheckError("the config sets no model_name_or_path; give the model folder instead")
    return str(name)


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit code (0 fine, 2 a problem)."""
    args = parse_args(argv)
    if args.model_dir is not None:
        return run_model_check(args.model_dir)
    try:
        name = model_name_from_config(args.config)
    except (ModelCheckError, ValueError, OSError) as exc:
        print(f"check_model.py: {args.config}: {exc}", file=sys.stderr)
        return 2
    return run_model_check(name)


if __name__ == "__main__":
    sys.exit(main())

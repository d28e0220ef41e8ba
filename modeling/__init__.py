"""Model-side pieces shared by SFT, GRPO and evaluation: the parts of a Qwen2.5-VL model, the attention
kernel choice, LoRA adapters and their merge. Stands on dataset/ only; finetuning/, verl/ and evaluation/
import it, never the other way round.
"""

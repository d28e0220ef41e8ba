"""The tiny models' vocabulary: Qwen2.5-VL's special tokens, the chat template and a byte-level BPE
trained in-process on an embedded prompt-like corpus (shared by both file layouts of the tiny model)."""

from __future__ import annotations

import itertools
import json
import random

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

# Same order as Qwen2.5-VL, whose ids are 151643.. in the real vocabulary.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
SYSTEM_PROMPT = "You are a helpful assistant."

# Qwen2-VL-style template: default system turn, string or list content, optional "Picture N: " ids.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_COLOURS = "red green blue yellow orange purple pink brown black white gray cyan magenta".split()
_SHAPES = "circle square triangle rectangle star ellipse diamond hexagon cross ring".split()
_OBJECTS = (
    "person man woman child dog cat car bus truck bicycle bird horse cup bottle chair table "
    "phone book laptop keyboard mouse tree flower house window door sign button text logo icon"
).split()
_WORDS = (
    "the a an of and or in on at to for with from by is are was be this that these those it its "
    "all each every one two three four five some many small large big tiny left right top bottom "
    "image picture photo object objects region box boxes point points coordinates format output "
    "find detect locate show give list answer question please what where which how many there "
    "none no yes similar reference indicating more given element recognize polygon keypoint json "
    "visible hidden near far above below inside outside next between center corner edge background "
    "about after again against also always another any around back because before being both but can "
    "could day did do does down during early end even first following for from get go good great had "
    "has have he her here him his home if into just know last later like little long look made make "
    "may me might most much must my never new not now number of off often old only open other our out "
    "over own part people place same say see she should since so still such take than their them then "
    "they thing think through time under until up use used very want way we well were when while who "
    "why will work world would year you your street road river mountain sky cloud sun moon water grass "
    "field forest beach boat ship train plane airport kitchen room bed sofa lamp clock vase plate bowl "
    "fork knife spoon pizza cake apple banana orange sandwich umbrella bag backpack suitcase ball kite "
    "skateboard surfboard racket glove helmet shirt jacket hat shoe face hand head eye nose mouth arm leg "
    "menu toolbar tab link search settings profile close submit cancel save delete edit share download"
).split()
_TEMPLATES = (
    "Detect {c}. Output the bounding box coordinates in [x0, y0, x1, y1] format.",
    "Point to {c}.",
    "Detect all {c} and recognize them.",
    'Point to element "{c}".',
    'Detect element "{c}"" in the image.',
    "Can you detect all {c} in this image in polygon format like [x0, y0, x1, y1, x2, y2 ...] "
    "and then recognize them?",
    'Given reference boxes {{"object_1": ["<1><2><3><4>"]}} indicating one or more objects, '
    "find all similar objects in the image and output their bounding boxes.",
)


def _training_corpus(seed: int = 0, num_lines: int = 3000) -> list[str]:
    """Deterministic prompt-like sentences covering Rex-Omni's templates and vocabulary."""
    rng = random.Random(seed)
    phrases = [f"{c} {s}" for c, s in itertools.product(_COLOURS, _SHAPES)] + _OBJECTS
    words = _WORDS + _COLOURS + _SHAPES + _OBJECTS
    # Inflected and capitalised forms widen the merge vocabulary without a bigger word list.
    lines = [SYSTEM_PROMPT] + [" ".join(w + suffix for w in words) for suffix in ("", "s", "ed", "ing", "er")]
    lines += [" ".join(w.capitalize() for w in words), " ".join(w.upper() for w in words)]
    for _ in range(num_lines):
        cats = ", ".join(rng.sample(phrases, rng.randint(1, 3)))
        lines.append(rng.choice(_TEMPLATES).format(c=cats))
        lines.append(
            " ".join(rng.choice(_WORDS + phrases) for _ in range(rng.randint(4, 12))).capitalize() + "."
        )
    return lines


def train_bpe(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE with Qwen2's pre-tokenizer; returns (vocab, merges)."""
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_training_corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges  # type: ignore[return-value]

"""The one prompt format of SFT, GRPO and evaluation, and SFT's token assembly.

:func:`prompt_messages` builds the chat turns of one image + question, in the original Rex-Omni
training format: the user turn is ``<image>\\n{question}`` (a newline between the image and the
question). SFT (:class:`ChatEncoder`), GRPO (``verl.utils.dataset``) and evaluation
(``evaluation.generation``) all render it, so the policy is trained and scored on one prompt.

:class:`ChatEncoder` renders the template once per dataset with sentinel strings and splits it into
fixed pieces; each piece is tokenised once. Per sample only the question and answer are tokenised.
For the Qwen2.5-VL template the sequence is::

    <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n<|vision_start|><|image_pad|>*N
    <|vision_end|>\\n{question}<|im_end|>\\n<|im_start|>assistant\\n{answer}<|im_end|>\\n

Only ``{answer}<|im_end|>\\n`` is supervised; every other label is ``IGNORE_INDEX``. Every piece
boundary sits next to a special token, which the tokenizer splits on first, so tokenising the
pieces separately gives the same ids as tokenising the whole string. The text between the image
and the question (``\\n``) is tokenised together with the question to keep that property.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_SYSTEM_MESSAGE",
    "IGNORE_INDEX",
    "ChatEncoder",
    "EncodedText",
    "prompt_messages",
    "render_prompt",
]

IGNORE_INDEX = -100
DEFAULT_SYSTEM_MESSAGE = "You are a helpful assistant."  # the Qwen2.5-VL template's default
IMAGE_QUESTION_SEPARATOR = "\n"  # the original's training format: "<image>\n{question}"
_QUESTION = "@@REX_QUESTION@@"
_ANSWER = "@@REX_ANSWER@@"
DEFAULT_IMAGE_TOKEN = "<|image_pad|>"


def prompt_messages(question: str, system_message: str = DEFAULT_SYSTEM_MESSAGE) -> list[dict[str, Any]]:
    """Chat turns (system, user) of one image + question; the user turn is ``<image>\\n{question}``."""
    return [
        {"role": "system", "content": [{"type": "text", "text": system_message}]},
        {"role": "user", "content": [{"type": "image"},
                                     {"type": "text", "text": IMAGE_QUESTION_SEPARATOR + question}]},
    ]


def render_prompt(processor: Any, question: str, system_message: str = DEFAULT_SYSTEM_MESSAGE) -> str:
    """The prompt text (one unexpanded image placeholder), ending in the assistant turn's prefix."""
    messages = prompt_messages(question, system_message)
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@dataclass(frozen=True)
class EncodedText:
    """Token ids and labels of one sample (plain lists; the dataset makes tensors)."""

    input_ids: list[int]
    labels: list[int]
    num_image_tokens: int


class ChatEncoder:
    """Builds ``input_ids``/``labels`` from a question, an answer and an image-token count.

    Args:
        processor: an object with ``apply_chat_template`` (the HF processor, or a tokenizer).
        tokenizer: the text tokenizer (defaults to ``processor.tokenizer``).
        system_message: the system turn's text.
    """

    def __init__(
        self, processor: Any, tokenizer: Any | None = None, system_message: str = DEFAULT_SYSTEM_MESSAGE
    ) -> None:
        self.tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", processor)
        self.image_token = getattr(processor, "image_token", None) or DEFAULT_IMAGE_TOKEN
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        if self.image_token_id is None or self.image_token_id == self.tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no single token for the image placeholder {self.image_token!r}")
        rendered = _render_template(processor, system_message)
        before_image, after_image, before_answer, after_answer = _split_rendered(rendered, self.image_token)
        self.before_image = self._ids(before_image)
        self.question_prefix = after_image  # "<|vision_end|>\n": tokenised with each question
        self.before_answer = self._ids(before_answer)
        self.after_answer = self._ids(after_answer)  # supervised: "<|im_end|>\n"
        self.num_fixed_tokens = sum(len(p) for p in (self.before_image, self.before_answer, self.after_answer))

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tokenize(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        """Token ids of the question (with the text between image and question) and of the answer.

        Two single calls: a batched call goes through the tokenizers thread pool, which costs
        milliseconds when it competes with torch's intra-op threads.
        """
        return self._ids(self.question_prefix + question), self._ids(answer)

    def length(self, question_ids: list[int], answer_ids: list[int], num_image_tokens: int) -> int:
        """Total sequence length in tokens."""
        return self.num_fixed_tokens + num_image_tokens + len(question_ids) + len(answer_ids)

    def assemble(self, question_ids: list[int], answer_ids: list[int], num_image_tokens: int) -> EncodedText:
        """Concatenate the pieces; labels are ``IGNORE_INDEX`` except for the answer and its end turn."""
        prompt = (
            self.before_image
            + [self.image_token_id] * num_image_tokens
            + question_ids
            + self.before_answer
        )
        target = answer_ids + self.after_answer
        return EncodedText(prompt + target, [IGNORE_INDEX] * len(prompt) + target, num_image_tokens)


def _render_template(processor: Any, system_message: str) -> str:
    messages = prompt_messages(_QUESTION, system_message)
    messages.append({"role": "assistant", "content": [{"type": "text", "text": _ANSWER}]})
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    if not isinstance(rendered, str):
        raise TypeError(
            f"apply_chat_template(tokenize=False) returned {type(rendered).__name__}, expected str"
        )
    return rendered


def _split_rendered(rendered: str, image_token: str) -> tuple[str, str, str, str]:
    """Split a rendered template into (before image, image..question, question..answer, after answer)."""
    for marker in (image_token, _QUESTION, _ANSWER):
        if rendered.count(marker) != 1:
            raise ValueError(
                f"chat template must render exactly one {marker!r} for one image turn; got {rendered!r}"
            )
    if not rendered.index(image_token) < rendered.index(_QUESTION) < rendered.index(_ANSWER):
        raise ValueError(f"chat template must render image, then question, then answer; got {rendered!r}")
    head, tail = rendered.split(image_token)
    after_image, tail = tail.split(_QUESTION)
    before_answer, after_answer = tail.split(_ANSWER)
    return head, after_image, before_answer, after_answer

"""Checks recorded vLLM calls against the installed ``vllm`` (run by ``test_vllm_conformance.py``).

Runs in a separate python with vLLM (``python vllm_conformance_probe.py calls.json``); imports nothing
from this repository. Prints one JSON line: ``{"vllm_version", "checked", "problems"}``. Nothing is
executed on a GPU: signatures are bound, argument values validated against vLLM's typed fields, and
``SamplingParams`` and the multimodal inputs go through vLLM's own (CPU) constructors and parser.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import typing
from typing import Any

ENGINE_METHODS = ("sleep", "wake_up", "apply_model", "generate")


class Probe:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def check(self, ok: bool, message: str) -> None:
        self.checked += 1
        if not ok:
            self.problems.append(message)


@dataclasses.dataclass
class SamplingParamsCall:
    """Recorded ``SamplingParams(**kwargs)``, built for real by :func:`build_sampling_params`."""

    kwargs: dict[str, Any]


def build_sampling_params(probe: Probe, value: Any) -> Any:
    """Real ``SamplingParams`` for every recorded one in ``value`` (a call or a list of them)."""
    from vllm import SamplingParams

    if isinstance(value, list):
        return [build_sampling_params(probe, v) for v in value]
    if not isinstance(value, SamplingParamsCall):
        return value
    try:
        params = SamplingParams(**value.kwargs)
        probe.check(True, "")
        return params
    except Exception as exc:
        probe.check(False, f"SamplingParams({value.kwargs}) raised {type(exc).__name__}: {exc}")
        return None


def decode(value: Any) -> Any:
    """Rebuild recorded arguments: PIL images, real ``SamplingParams``, placeholder callables."""
    from PIL import Image

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__kind__")
    if kind == "pil":
        return Image.new(value["mode"], tuple(value["size"]))
    if kind == "dict":
        return {decode(k): decode(v) for k, v in value["items"]}
    if kind == "callable":
        return lambda *args, **kwargs: None
    if kind == "sampling_params":
        return SamplingParamsCall(decode(value["kwargs"]))
    return {k: decode(v) for k, v in value.items()}


def _resolve(annotation: str, namespace: dict[str, Any]) -> Any:
    """A string annotation evaluated in its module's namespace; None when it names something absent there."""
    try:
        return eval(annotation, dict(namespace))  # noqa: S307 (an annotation of the installed vLLM)
    except Exception:
        return None


def check_engine_args(probe: Probe, kwargs: dict[str, Any]) -> None:
    """Every ``LLM(...)`` keyword is an ``LLM.__init__`` parameter or an ``EngineArgs`` field of the right type."""
    from pydantic import ConfigDict, TypeAdapter
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    explicit = inspect.signature(LLM.__init__).parameters
    fields = {f.name: f for f in dataclasses.fields(EngineArgs)}
    for key, value in kwargs.items():
        probe.check(key in explicit or key in fields, f"LLM(): unknown keyword {key!r}")
        # LLM's own parameters first (it forwards the rest to EngineArgs through **kwargs).
        hint = explicit[key].annotation if key in explicit else fields[key].type if key in fields else None
        if isinstance(hint, str):
            hint = _resolve(hint, sys.modules[EngineArgs.__module__].__dict__)
        if hint is None or hint is inspect.Parameter.empty:
            continue
        try:
            adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
        except Exception:  # a hint pydantic cannot build a validator for (checked by name only)
            continue
        try:
            adapter.validate_python(value, strict=True)
            probe.check(True, "")
        except Exception as exc:
            probe.check(False, f"LLM({key}={value!r}): not a {hint}: {str(exc).splitlines()[0]}")
    try:
        EngineArgs(**{k: v for k, v in kwargs.items() if k in fields})
        probe.check(True, "")
    except Exception as exc:
        probe.check(False, f"EngineArgs(**kwargs) raised {type(exc).__name__}: {exc}")


def check_method(probe: Probe, method: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    from vllm import LLM

    if not hasattr(LLM, method):
        probe.check(False, f"LLM has no method {method!r}")
        return
    try:
        inspect.signature(getattr(LLM, method)).bind(object(), *args, **kwargs)
        probe.check(True, "")
    except TypeError as exc:
        probe.check(False, f"LLM.{method}{inspect.signature(getattr(LLM, method))}: call does not bind: {exc}")
    if method == "wake_up":  # the allowed tags are listed in wake_up's docstring
        tags = kwargs.get("tags", args[0] if args else None)
        doc = inspect.getdoc(LLM.wake_up) or ""
        for tag in tags or []:
            probe.check(f'"{tag}"' in doc, f"LLM.wake_up: tag {tag!r} is not one its docstring allows")


def check_request(probe: Probe, request: dict[str, Any]) -> None:
    """A ``generate`` prompt: a ``TokensPrompt`` whose multimodal data vLLM's parser accepts."""
    from vllm.inputs import TokensPrompt

    keys = typing.get_type_hints(TokensPrompt)
    required = getattr(TokensPrompt, "__required_keys__", frozenset())
    probe.check(set(request) <= set(keys), f"TokensPrompt has no keys {sorted(set(request) - set(keys))}")
    probe.check(set(required) <= set(request), f"TokensPrompt needs keys {sorted(set(required) - set(request))}")
    ids = request.get("prompt_token_ids")
    probe.check(isinstance(ids, list) and all(isinstance(t, int) for t in ids), "prompt_token_ids: not a list of int")
    if "multi_modal_data" in request:
        from vllm.multimodal.parse import MultiModalDataParser

        try:
            items = MultiModalDataParser().parse_mm_data(request["multi_modal_data"])
            probe.check(items.get_count("image", strict=False) == 1, "multi_modal_data: expected one image")
        except Exception as exc:
            probe.check(False, f"multi_modal_data rejected by vLLM's parser: {type(exc).__name__}: {exc}")


def check_generate(probe: Probe, args: list[Any], kwargs: dict[str, Any]) -> None:
    from vllm import SamplingParams

    prompts = args[0] if args else kwargs.get("prompts", [])
    params = args[1] if len(args) > 1 else kwargs.get("sampling_params")
    for request in prompts:
        check_request(probe, request)
    params = params if isinstance(params, list) else [params]
    probe.check(len(params) in (1, len(prompts)), "generate: sampling_params must be one or one per prompt")
    probe.check(all(isinstance(p, SamplingParams) for p in params), "generate: sampling_params not SamplingParams")


def check_outputs(probe: Probe) -> None:
    """The rollout reads ``RequestOutput.outputs[i].token_ids``."""
    from vllm.outputs import CompletionOutput, RequestOutput

    probe.check("outputs" in inspect.signature(RequestOutput.__init__).parameters, "RequestOutput has no outputs")
    names = ({f.name for f in dataclasses.fields(CompletionOutput)} if dataclasses.is_dataclass(CompletionOutput)
             else set(inspect.signature(CompletionOutput.__init__).parameters))
    probe.check("token_ids" in names, "CompletionOutput has no token_ids")


def check_load_weights(probe: Probe, call: dict[str, Any]) -> None:
    """``model.load_weights(weights=...)`` and HF names that Qwen2.5-VL's mapper turns into its modules."""
    from vllm.model_executor.models.qwen2_5_vl import Qwen2_5_VLForConditionalGeneration as Model

    params = inspect.signature(Model.load_weights).parameters
    for key in call["kwargs"]:
        probe.check(key in params, f"{Model.__name__}.load_weights has no parameter {key!r}")
    mapper = Model.hf_to_vllm_mapper
    known = ("visual.", "language_model.")
    unmapped = [n for n in call["names"] if not (mapper.map_name(n) or "").startswith(known)]
    probe.check(not unmapped, f"weight names not mapped to {known}: {unmapped[:5]}")


def run(spec: dict[str, Any]) -> Probe:
    import vllm.envs

    probe = Probe()
    for name in spec["env"]:
        probe.check(name in vllm.envs.environment_variables, f"vllm.envs has no {name}")
    check_outputs(probe)
    for call in spec["calls"]:
        method = call["method"]
        if method == "model.load_weights":
            check_load_weights(probe, call)
            continue
        args, kwargs = decode(call["args"]), decode(call["kwargs"])
        if method == "__init__":
            check_engine_args(probe, kwargs)
        elif method in ENGINE_METHODS:
            args, kwargs = build_sampling_params(probe, args), {
                k: build_sampling_params(probe, v) for k, v in kwargs.items()}
            check_method(probe, method, args, kwargs)
            if method == "generate":
                check_generate(probe, args, kwargs)
        else:
            probe.check(False, f"unexpected recorded call {method!r}")
    return probe


def main() -> None:
    import vllm

    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    probe = run(spec)
    print(json.dumps({"vllm_version": vllm.__version__, "checked": probe.checked, "problems": probe.problems}))


if __name__ == "__main__":
    main()

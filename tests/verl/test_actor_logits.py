"""The actor's log-probs come from an LM head that projects only the response positions, and equal the
log-softmax of the full model output at those positions."""

from __future__ import annotations

import torch

from tests.tolerances import GRAD_TOL
from tests.verl.conftest import LOG_PROB_ATOL
from tests.verl.test_actor_dp import PROMPT, RESPONSE, _load_model, _make_batch
from verl.workers.actor import forward_log_probs


def _full_output_log_probs(model: torch.nn.Module, batch, temperature: float) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"].transpose(0, 1), use_cache=False).logits
    assert logits.shape[1] == PROMPT + RESPONSE  # the stock call projects every position
    shifted = logits[:, PROMPT - 1:-1].float() / temperature
    return torch.log_softmax(shifted, dim=-1).gather(-1, batch["responses"].unsqueeze(-1)).squeeze(-1)


def test_log_probs_and_gradient_equal_the_full_logits_ones(tiny_model):
    model = _load_model(str(tiny_model))
    batch = _make_batch(model)
    rows_seen = []
    hook = model.lm_head.register_forward_hook(lambda _m, args, _out: rows_seen.append(args[0].shape[1]))
    try:
        model.zero_grad(set_to_none=True)
        ours, _ = forward_log_probs(model, batch, 0.7, "cpu")
        ours.sum().backward()
        ours_grad = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    finally:
        hook.remove()
    assert rows_seen == [RESPONSE + 1]

    model.zero_grad(set_to_none=True)
    expected = _full_output_log_probs(model, batch, 0.7)
    expected.sum().backward()
    torch.testing.assert_close(ours, expected, atol=LOG_PROB_ATOL, rtol=1e-5)  # see conftest
    assert len(ours_grad) > 10
    for name, param in model.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(ours_grad[name], param.grad, **GRAD_TOL, msg=name)

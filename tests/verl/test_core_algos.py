"""core_algos against hand-computed values (expected numbers are written out, not recomputed by the code)."""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl import core_algos as ca
from verl.trainer import ppo_config
from verl.workers import actor_config

LN2 = math.log(2.0)


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_registries_match_config_choices():
    assert set(ca.ADV_ESTIMATORS) == set(typing.get_args(ppo_config.AdvEstimator))
    assert set(ca.KL_PENALTIES) == set(typing.get_args(actor_config.KlPenalty))
    assert set(ca.AGG_MODES) == set(typing.get_args(actor_config.LossAggMode))


def test_registry_rejects_duplicates():
    with pytest.raises(KeyError, match="grpo"):
        ca.register_adv_estimator("grpo")(lambda scores, index, eps: scores)


# ------------------------------------------------------------------------------------------ advantages


def test_grpo_reference_example():
    # rewards [1,0,0,0], n=4: mean .25, unbiased std .5 -> A = [1.5, -.5, -.5, -.5]
    rewards = torch.zeros(4, 3)
    rewards[:, -1] = _t([1, 0, 0, 0])
    mask = torch.ones(4, 3)
    adv, returns = ca.compute_advantage("grpo", rewards, mask, np.array(["u"] * 4, dtype=object))
    expected = _t([0.75 / 0.500001, -0.25 / 0.500001, -0.25 / 0.500001, -0.25 / 0.500001])
    torch.testing.assert_close(adv, expected[:, None].expand(4, 3))
    torch.testing.assert_close(adv[:, 0], _t([1.5, -0.5, -0.5, -0.5]), atol=1e-5, rtol=0)
    assert torch.equal(adv, returns)


def test_grpo_interleaved_groups_and_mask():
    # group a: [1, 3] mean 2 std sqrt(2); group b: [2, 6] mean 4 std sqrt(8)
    rewards = torch.zeros(4, 2)
    rewards[:, 1] = _t([1, 2, 3, 6])
    mask = _t([[1, 1], [1, 0], [1, 1], [0, 0]])
    adv, _ = ca.compute_advantage("grpo", rewards, mask, ["a", "b", "a", "b"])
    s2, s8 = math.sqrt(2) + 1e-6, math.sqrt(8) + 1e-6
    expected = _t([[-1 / s2, -1 / s2], [-2 / s8, 0], [1 / s2, 1 / s2], [0, 0]])
    torch.testing.assert_close(adv, expected)


def test_grpo_singleton_group_and_constant_group():
    # singleton: mean 0, std 1 -> raw score; constant group: zero advantage
    adv = ca.grpo_advantage(_t([0.7, 0.5, 0.5]), ["x", "y", "y"])
    torch.testing.assert_close(adv, _t([0.7 / 1.000001, 0.0, 0.0]))


def test_grpo_without_std_is_dr_grpo():
    # group a [1, 0, 0, 0]: mean .25 -> [.75, -.25, -.25, -.25]; group b [2, 6]: mean 4 -> [-2, 2]; singleton c keeps 0.7
    adv = ca.grpo_advantage(_t([1, 0, 2, 0, 0, 6, 0.7]), list("aabaabc"), norm_by_std=False)
    torch.testing.assert_close(adv, _t([0.75, -0.25, -2.0, -0.25, -0.25, 2.0, 0.7]))
    rewards = torch.zeros(2, 2)
    rewards[:, 1] = _t([3, 1])
    adv, _ = ca.compute_advantage("grpo", rewards, _t([[1, 1], [1, 0]]), ["u", "u"], norm_by_std=False)
    torch.testing.assert_close(adv, _t([[1.0, 1.0], [-1.0, 0.0]]))


def test_rloo_leave_one_out():
    # [1,0,0,0]: A0 = 1 - 0 = 1, A1 = 0 - 1/3; equals 4/3 * (s - 0.25)
    adv = ca.rloo_advantage(_t([1, 0, 0, 0]), [7, 7, 7, 7])
    torch.testing.assert_close(adv, _t([1.0, -1 / 3, -1 / 3, -1 / 3]))
    # group a [2, 4] -> [2 - 4, 4 - 2]; singletons b, c keep their raw scores
    adv = ca.rloo_advantage(_t([2, 4, 10, 0.3]), ["a", "a", "b", "c"])
    torch.testing.assert_close(adv, _t([-2.0, 2.0, 10.0, 0.3]))


def test_compute_advantage_errors():
    with pytest.raises(ValueError, match=r"allowed: \['grpo', 'rloo'\]"):
        ca.compute_advantage("gae", torch.zeros(2, 2), torch.ones(2, 2), ["a", "a"])
    with pytest.raises(ValueError, match="index has 3"):
        ca.compute_advantage("grpo", torch.zeros(2, 2), torch.ones(2, 2), ["a", "a", "b"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(-5, 5, width=32)), min_size=1, max_size=16))
def test_advantages_zero_sum_and_permutation_invariant(rows):
    uids = [f"g{g}" for g, _ in rows]
    scores = _t([s for _, s in rows])
    rloo = ca.rloo_advantage(scores, uids)
    grpo = ca.grpo_advantage(scores, uids)
    for g in set(uids):
        members = [i for i, u in enumerate(uids) if u == g]
        if len(members) > 1:
            assert abs(float(rloo[members].sum())) < 1e-3
            assert abs(float(grpo[members].sum())) < 1e-2
    perm = torch.randperm(len(rows))
    torch.testing.assert_close(ca.grpo_advantage(scores[perm], [uids[i] for i in perm]), grpo[perm])


def test_group_filter_mask():
    keep = ca.group_filter_mask(_t([1, 1, 0, 1, 0.5]), ["a", "a", "b", "b", "c"])
    assert keep.tolist() == [False, False, True, True, False]


# ----------------------------------------------------------------------------------------- aggregation

LOSS = _t([[1, 2, 3], [4, 0, 0], [9, 9, 9]])
MASK = _t([[1, 1, 1], [1, 0, 0], [0, 0, 0]])  # last row is padding


@pytest.mark.parametrize(("mode", "expected"), [
    ("token-mean", (1 + 2 + 3 + 4) / 4),
    ("seq-mean-token-sum", (6 + 4) / 2),
    ("seq-mean-token-mean", (2 + 4) / 2),
    ("seq-mean-token-sum-norm", (6 / 3 + 4 / 3) / 2),  # token sums over the mask width R = 3
])
def test_agg_loss_modes(mode, expected):
    assert ca.agg_loss(LOSS, MASK, mode).item() == pytest.approx(expected)


@pytest.mark.parametrize(("mode", "expected"), [
    ("token-mean", 10 / 8), ("seq-mean-token-sum", 10 / 8), ("seq-mean-token-mean", 6 / 8),
    ("seq-mean-token-sum-norm", 10 / 3 / 8)])
def test_agg_loss_normalizer(mode, expected):
    assert ca.agg_loss(LOSS, MASK, mode, normalizer=8).item() == pytest.approx(expected)


@pytest.mark.parametrize(("mode", "expected"), [
    ("token-mean", 4.0), ("seq-mean-token-sum", 2.0), ("seq-mean-token-mean", 2.0), ("seq-mean-token-sum-norm", 2.0)])
def test_loss_normalizer_counts_tokens_or_non_empty_rows(mode, expected):
    assert ca.loss_normalizer(MASK, mode).item() == expected
    # the local denominators of agg_loss are these counts
    assert ca.agg_loss(LOSS, MASK, mode).item() == pytest.approx(ca.agg_loss(LOSS, MASK, mode, expected).item())


def test_agg_loss_unknown_mode():
    with pytest.raises(ValueError, match="token-mean"):
        ca.agg_loss(LOSS, MASK, "sum")


# ----------------------------------------------------------------------------------------- policy loss

# tokens: (A, ratio) -> per-token loss with low=.2, high=.3, dual=3
#  (1, 1.5): max(-1.5, -1.3) = -1.3   clip high
#  (1, 0.5): max(-0.5, -0.8) = -0.5
#  (-1, 0.5): max(0.5, 0.8) = 0.8      clip low
#  (-1, 4.0): max(4, 1.3) = 4 -> dual min(4, 3) = 3
#  (2, 1.1): -2.2
ADV = _t([[1, 1, -1, -1, 2]])
RATIO = _t([[1.5, 0.5, 0.5, 4.0, 1.1]])


def _policy_loss(mask=None, dual=3.0, mode="token-mean"):
    old = torch.full((1, 5), -1.0)
    new = old + torch.log(RATIO)
    return ca.compute_policy_loss(old, new, ADV, torch.ones(1, 5) if mask is None else mask, 0.2, 0.3, dual, mode)


def test_policy_loss_clip_and_dual():
    loss, metrics = _policy_loss()
    assert loss.item() == pytest.approx((-1.3 - 0.5 + 0.8 + 3.0 - 2.2) / 5, abs=1e-6)
    assert metrics["pg_clipfrac_high"].item() == pytest.approx(0.2)
    assert metrics["pg_clipfrac_low"].item() == pytest.approx(0.2)
    assert metrics["pg_clipfrac_dual"].item() == pytest.approx(0.2)
    assert metrics["ppo_kl"].item() == pytest.approx(-math.log(1.5 * 0.5 * 0.5 * 4.0 * 1.1) / 5, abs=1e-6)


def test_policy_loss_without_dual_and_masked():
    loss, metrics = _policy_loss(dual=None)
    assert loss.item() == pytest.approx((-1.3 - 0.5 + 0.8 + 4.0 - 2.2) / 5, abs=1e-6)
    assert metrics["pg_clipfrac_dual"].item() == 0.0
    loss, _ = _policy_loss(mask=_t([[1, 1, 1, 0, 1]]))
    assert loss.item() == pytest.approx((-1.3 - 0.5 + 0.8 - 2.2) / 4, abs=1e-6)


def test_policy_loss_gradient_zero_when_clipped():
    old = torch.zeros(1, 2)
    new = torch.log(_t([[1.5, 1.0]])).requires_grad_()
    loss, _ = ca.compute_policy_loss(old, new, _t([[1.0, 1.0]]), torch.ones(1, 2), 0.2, 0.3)
    loss.backward()
    # clipped token gets no gradient; the other: d(-A r)/d logp = -r = -1, / 2 tokens
    torch.testing.assert_close(new.grad, _t([[0.0, -0.5]]))


# -------------------------------------------------------------------------------------------------- KL

@pytest.mark.parametrize(("penalty", "forward", "backward"), [
    ("kl", LN2, -LN2),
    ("abs", LN2, LN2),
    ("mse", 0.5 * LN2**2, 0.5 * LN2**2),
    ("low_var_kl", 0.5 + LN2 - 1, 2 - LN2 - 1),
])
def test_kl_estimators(penalty, forward, backward):
    p_half, p_quarter = torch.log(_t([0.5])), torch.log(_t([0.25]))
    assert ca.compute_kl(p_half, p_quarter, penalty).item() == pytest.approx(forward, abs=1e-6)
    assert ca.compute_kl(p_quarter, p_half, penalty).item() == pytest.approx(backward, abs=1e-6)


def test_low_var_kl_clamped_and_fp32():
    out = ca.compute_kl(_t([-50.0]).half(), _t([0.0]).half(), "low_var_kl")
    assert out.dtype == torch.float32 and out.item() == 10.0
    with pytest.raises(ValueError, match="low_var_kl"):
        ca.compute_kl(_t([0.0]), _t([0.0]), "full")


def test_apply_kl_penalty():
    scores = _t([[0.0, 1.0]])
    logp, ref = torch.log(_t([[0.5, 0.5]])), torch.log(_t([[0.25, 0.25]]))
    rewards, metrics = ca.apply_kl_penalty(scores, logp, ref, _t([[1, 1]]), 0.1, "kl")
    torch.testing.assert_close(rewards, _t([[-0.1 * LN2, 1 - 0.1 * LN2]]))
    assert metrics["critic/kl"] == pytest.approx(LN2) and metrics["critic/kl_coef"] == 0.1


# ---------------------------------------------------------------------------------------------- logits

def test_entropy_and_log_probs_from_logits():
    uniform = torch.zeros(1, 4)
    assert ca.entropy_from_logits(uniform).item() == pytest.approx(math.log(4))
    skewed = torch.log(_t([[0.25, 0.75]]))
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert ca.entropy_from_logits(skewed).item() == pytest.approx(expected, abs=1e-6)
    assert ca.entropy_from_logits(_t([[1000.0, 1000.0]])).item() == pytest.approx(LN2)
    lp = ca.log_probs_from_logits(skewed.bfloat16(), torch.tensor([1]))
    assert lp.dtype == torch.float32 and lp.item() == pytest.approx(math.log(0.75), abs=1e-2)


# ------------------------------------------------------------------------------------------------- LR

def test_warmup_never_starts_at_zero():
    assert [ca.lr_lambda(s, 4, 100) for s in (0, 1, 3, 4, 50)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert ca.lr_lambda(0, 0, 100) == 1.0
    assert ca.lr_lambda(0, 0, 1, "cosine") == 1.0


def test_cosine_schedule():
    # warmup 2, 6 steps, floor .1: step 2 -> 1, step 3 -> .1 + .9 * .5 * (1 + cos(pi/3)) = .775, step 5 -> .1
    values = [ca.lr_lambda(s, 2, 6, "cosine", 0.1) for s in (0, 1, 2, 3, 5, 9)]
    assert values == pytest.approx([0.5, 1.0, 1.0, 0.775, 0.1, 0.1])


def test_resolve_warmup_steps():
    assert ca.resolve_warmup_steps(None, 0.1, 55) == 5
    assert ca.resolve_warmup_steps(3, 0.5, 100) == 3


def test_build_lr_scheduler_first_step_nonzero():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = ca.build_lr_scheduler(opt, training_steps=10, warmup_steps=2)
    seen = []
    for _ in range(3):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == [0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="cosine"):
        ca.build_lr_scheduler(opt, training_steps=10, scheduler_type="linear")


def test_equal_scores_give_zero_advantages():
    # Three equal float32 scores whose float32 mean is off by an ulp: the std is ~0, so any error in the
    # mean would be amplified into advantages of about -0.1 each.
    scores = _t([1.9994451999664307] * 3)
    assert ca.grpo_advantage(scores, ["a"] * 3).abs().max().item() == 0.0
    assert ca.rloo_advantage(scores, ["a"] * 3).abs().max().item() == 0.0

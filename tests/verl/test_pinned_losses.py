"""Pinned first GRPO steps on the test-size model: rewards, policy loss and KL of steps 1..3.

The other GRPO tests compare paths with each other or look for learning; these compare with numbers
recorded once, so a change that moves every path alike (the loss aggregation or its normaliser, the
advantage estimator, the KL estimator, the response mask) fails here.

Set-up: the conftest's 1-worker CPU config (test-size model, seed 0, toy data, 2 prompts x 4 sampled
responses of at most 16 tokens, lr 1e-3, KL loss ``low_var_kl`` with coefficient 1e-2) and
``varied_reward``, a score from the response text's crc32 (``tests/verl/reward_fixtures.py``), so the
groups have different rewards and non-zero advantages.

Tolerances: rewards are exact functions of the sampled text; the text is a seeded draw from fp32
probabilities, which another CPU computes with ~1e-6 relative differences, too little to move a draw
unless a uniform falls within ~1e-6 of a bin edge (about 1e-4 for the 100-odd draws here), so they are
compared to 1e-9. The policy loss is a token mean of values of order 1 over 128 tokens, its fp32 sum
drifting by well under 1e-6: ``abs=1e-6``. The first gradient norm comes from one fp32 backward of a
2-layer model (sums of at most a few thousand terms, ~1e-5 relative drift at worst): ``rel=2e-4``,
while a normaliser off by one token moves it by 1/128 (8e-3). Later steps follow an Adam update, where
weights with near-zero gradients can move by a full learning rate on another machine: ``rel=5e-3``
(with an ``abs`` floor for the KL, which is 0 at step 1: actor and reference are the same weights).

Re-recording after an intended change: run
``PRINT_PINNED=1 python -m pytest -q -s tests/verl/test_pinned_losses.py`` and paste the printed dict
into ``PINNED``, saying in the commit message why the values moved.
"""

from __future__ import annotations

import os

import pytest

from tests.verl.conftest import fit_in_process

pytestmark = pytest.mark.slow

KEYS = ("reward/overall", "actor/pg_loss", "actor/kl_loss", "actor/grad_norm")
# Steps 1..3. The policy loss is ~0 (fp32 rounding): every response runs to the 16-token cap, so the token
# mean of advantage x ratio is the mean of the group-normalised advantages, 0 by construction; the
# gradient norm is what carries the loss normaliser.
PINNED: dict[str, list[float]] = {
    "reward/overall": [0.36512500000000003, 0.354625, 0.667375],
    "actor/pg_loss": [7.450580596923828e-09, 0.0, 1.4901161193847656e-08],
    "actor/kl_loss": [0.0, 0.000485333614051342, 0.0007423469796776772],
    "actor/grad_norm": [0.6242571473121643, 0.6651363372802734, 0.6370574831962585],
}


def first_steps(config) -> dict[str, list[float]]:
    history = fit_in_process(config)
    return {key: [float(step[key]) for step in history] for key in KEYS}


def test_first_grpo_steps_match_the_recorded_values(make_config) -> None:
    got = first_steps(make_config(1, "trainer.max_steps=3"))
    if os.environ.get("PRINT_PINNED"):
        print(f"\nPINNED = {got!r}")
    want = PINNED
    assert got["reward/overall"] == pytest.approx(want["reward/overall"], rel=1e-9)
    assert got["actor/pg_loss"] == pytest.approx(want["actor/pg_loss"], abs=1e-6)
    assert got["actor/grad_norm"][0] == pytest.approx(want["actor/grad_norm"][0], rel=2e-4)
    assert got["actor/grad_norm"][1:] == pytest.approx(want["actor/grad_norm"][1:], rel=5e-3)
    assert got["actor/kl_loss"] == pytest.approx(want["actor/kl_loss"], rel=5e-3, abs=1e-8)

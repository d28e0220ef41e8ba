"""Numeric tolerances of the suite, and why each holds on any CPU (not only the one it was written on).

Every tolerance below bounds a rounding error, reasoned from the dtype and the depth of the computation.

float32 rounds each operation to a relative error of at most u = 2**-24 = 6e-8. Two code paths that
compute the same function differ only where they sum in another order: kernels for other shapes,
another blocking (AVX2, AVX-512, ARM each block matrix products differently), another split over ranks.
A sum of n terms reordered errs by about sqrt(n) * u * sum|terms| (n * u * sum|terms| at worst), and
the error grows with each layer it passes through. The same path on the same machine with the same
shapes is deterministic on a CPU, so comparisons of one computation repeated (a resumed run against an
uninterrupted one) see no rounding difference at all.

* Hand-computed values of a few float32 operations on O(1) numbers (advantages, KL, entropy of a few
  logits, metrics of a few rows): error a few u, below 1e-6; ``pytest.approx``'s default (rel 1e-6) or
  ``abs=1e-6``. Python floats (float64, u = 1.1e-16): ``abs=1e-9`` or tighter.
* One layer in float32 (an LM head and a cross-entropy over a few hundred classes and tokens,
  ``tests/finetuning/test_linear_ce.py``): sums of <= 300 terms of O(1), error ~1e-7 absolute on losses
  and gradients; ``rtol=1e-5, atol=1e-6`` leaves a 10x margin.
* Log-probs, entropies and logits of the same tokens from two paths through a test model
  (:data:`LOG_PROB_ATOL`): the terms are the products of a 2-layer model (hidden 32, a few hundred
  positions including image tokens; the GRPO tests perturb weights to make logits of tens) and the
  logsumexp over ~4k vocabulary entries, so ~1e-5 per log-prob, which is what CPUs show (up to 1.25e-5
  seen on one machine, under 1e-5 on another). 1e-4 leaves an 8x margin; a real mismatch (a shifted
  position, a wrong mask, stale weights) moves log-probs by 1e-2 or more. Models with O(1) logits (the
  random test model in the SFT tests) err ten times less: per-sample losses there use ``abs=1e-5``.
* Gradients of the same loss from two paths through a test model (:data:`GRAD_TOL`): the log-prob
  error above (~1e-5 relative in each softmax probability) enters the backward pass, whose own reordered
  sums add ~sqrt(n) * u per layer; so ~1e-5 relative per entry, and ~1e-6 absolute on entries whose terms
  cancel (gradient norms are O(1) here). ``rtol=1e-4, atol=1e-5`` leaves about 10x on both. This covers
  a split over ranks or nodes too: each rank runs the forward on other shapes (half the rows), so its
  log-probs differ at the level above, not only at the last all-reduce.
* Losses pinned across machines (``tests/finetuning/test_pinned_losses.py``,
  ``tests/verl/test_pinned_losses.py``): the first step as the log-prob level (``rel 2e-4``); later steps
  after optimizer steps that amplify it (``2e-3`` to ``5e-3``); the reasons are in those files.
* Discrete results (greedy tokens, parsed boxes, box F1) are compared exactly: rounding changes them only
  where two candidates tie to within the errors above.
"""

from __future__ import annotations

LOG_PROB_ATOL = 1e-4  # log-probs / entropies / logits of the same tokens from two paths (see above)
GRAD_TOL = dict(rtol=1e-4, atol=1e-5)  # gradients of the same loss from two paths through a test model

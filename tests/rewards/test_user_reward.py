"""The README's recipe for a user reward: register it in your own file and name it in the config."""

import textwrap

from rewards import known_rewards
from verl.workers.reward import load_reward_function

USER_FILE = textwrap.dedent('''
    from verl.configs.reward_func import compute_score  # noqa: F401  (the entry point the config names)
    from rewards import RewardResult, register_reward

    @register_reward("count_match")
    def count_match(groups, gt, **options):
        score = 1.0 if sum(len(g.items) for g in groups) == options["expected"] else 0.0
        return RewardResult(score=score, precision=score, recall=score)
''')


def test_user_file_registers_a_reward_that_compute_score_uses(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(USER_FILE)
    compute_score = load_reward_function(f"{path}:compute_score")
    assert "count_match" in known_rewards()
    gt = {"reward_name": "count_match", "dataset_name": "d", "image_size": [100, 100],
          "answer": {"dog": {"boxes": [[0, 0, 10, 10]], "points": [], "masks": []}}}
    one_box = "<|object_ref_start|>dog<|object_ref_end|><|box_start|><1><2><3><4><|box_end|>"
    two_boxes = one_box.replace("<1><2><3><4>", "<1><2><3><4>,<5><6><7><8>")
    scores = compute_score([one_box, two_boxes], [gt, gt], reward_options={"count_match": {"expected": 1}})
    assert [s["overall"] for s in scores] == [1.0, 0.0]
    assert scores[0]["count_match"] == 1.0

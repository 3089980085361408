"""GRPO's completions end where the loop's do (issue 19: like-for-like token counts): the Ends
logits processor forces EOS once a row used its own problem's budget, or right after a stop
string; TaskReward counts the tokens without that EOS, as the loop's generator does."""

from __future__ import annotations

import torch

from star.grpo import Ends
from star.models import build_tiny_tokenizer


def test_each_row_ends_at_its_own_budget_and_after_a_stop_string():
    tok = build_tiny_tokenizer()
    prompts = ["1+1\n", "22+22\n"]
    ends = Ends(tok, {"1+1\n": 2, "22+22\n": 5}, [tok.eos_token_id], stop=["X"])
    ids = tok(prompts, padding=True).input_ids
    width, vocab = max(map(len, ids)), len(tok)
    batch = torch.tensor(ids)
    generated = {0: "ab", 1: "aXc"}  # row 1 writes the stop string X as its 2nd token
    forced = {0: None, 1: None}
    ends.rows = None
    for step in range(4):
        scores = ends(batch, torch.zeros(2, vocab))
        for r in (0, 1):
            if forced[r] is None and scores[r].argmax() == tok.eos_token_id and torch.isinf(scores[r]).sum() == vocab - 1:
                forced[r] = step
        nxt = [tok.convert_tokens_to_ids(generated[r][step]) if step < len(generated[r]) else tok.eos_token_id
               for r in (0, 1)]
        batch = torch.cat([batch, torch.tensor(nxt).unsqueeze(1)], dim=1)
    assert batch.shape[1] == width + 4
    assert forced[0] == 2  # budget 2: EOS forced as the 3rd token
    assert forced[1] == 2  # "aX": the stop string completed at token 2, EOS forced next


def test_the_reward_counts_tokens_without_the_closing_eos():
    from star.rewards import TaskReward
    from star.tasks.arithmetic import Arithmetic

    class Pool:
        def check(self, checker, pairs, problems=None):
            return [checker.fast_check(g, p) for g, p in pairs]

    task = Arithmetic(train_size=4, eval_size=2)
    problems = task.load("train")[:2]
    reward = TaskReward(task, problems, Pool(), eos=[1])
    reward(["p", "p"], ["A: 3", "A: 4"], [[5, 6, 1], [5, 6, 7]], problem_id=[problems[0].id, problems[1].id])
    assert reward.tokens == 2 + 3

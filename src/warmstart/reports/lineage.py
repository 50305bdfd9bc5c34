"""The transfer report's lineage: where each arm's weights came from, and the fine-tuning setup.

summarize_section condenses a config section to one line; lineage_table lists, per arm, how it was
initialised and the pretraining run, corpus, tokenizer and model behind it (pretraining configs
are looked up through _Configs, which reads each referenced run's config.json once);
finetune_setup is the one-sentence summary of the fine-tuning side (task, data, pool, seeds).
"""

from __future__ import annotations

from warmstart.reports.collect import Comparison, find_run, is_number, read_json
from warmstart.reports.tables import Table


def summarize_section(section) -> str:
    """One line for a config section: `kind (key=value, ...)`, scalars only, at most 6 of them."""
    if not isinstance(section, dict):
        return "–" if section is None else str(section)
    kind = section.get("kind")
    items = [f"{k}={v}" for k, v in section.items()
             if k != "kind" and v is not None and not isinstance(v, (dict, list)) and v is not False]
    shown = ", ".join(items[:6]) + (", …" if len(items) > 6 else "")
    if kind is None:
        return shown or "–"
    return f"{kind} ({shown})" if shown else str(kind)


class _Configs:
    """Pretraining-run configs looked up by the path cells name in `init` (cached)."""

    def __init__(self, cmp: Comparison):
        self.cmp = cmp
        self.cache: dict[str, dict | None] = {}
        if cmp.pretrain is not None and cmp.pretrained_ref:
            self.cache[str(cmp.pretrained_ref)] = cmp.pretrain.config

    def get(self, ref: str) -> dict | None:
        if ref not in self.cache:
            found = find_run(ref, self.cmp.path, self.cmp.path.parent)
            is_file = found is not None and (found / "config.json").is_file()
            self.cache[ref] = read_json(found / "config.json") if is_file else None
        return self.cache[ref]


def lineage_table(cmp: Comparison) -> Table:
    """Per arm: how it was initialised, and the pretraining run, corpus, tokenizer and model behind it."""
    configs = _Configs(cmp)
    rows = []
    for arm in cmp.arms:
        cells = [c for c in cmp.cells if c.arm == arm]
        run_cfgs = [c.run.config for c in cells if c.run and c.run.config]
        weights = sorted({str(cfg.get("init_weights")) for cfg in run_cfgs if cfg.get("init_weights")})
        refs = sorted({str(cfg["init"]) for cfg in run_cfgs if cfg.get("init")})
        if not run_cfgs and cmp.pretrained_ref:   # no cell configs left: compare.json's reference
            refs = [str(cmp.pretrained_ref)]
        how = {"pretrained": "pretrained weights", "random": "random weights (same architecture)"}
        init_text = ", ".join(how.get(w, w) for w in weights) if weights else cells[0].init
        strategies = ", ".join(sorted({c.strategy for c in cells if c.strategy})) or "–"
        if refs:
            for ref in refs:
                pre = configs.get(ref) or {}
                rows.append([arm, init_text, strategies, ref, summarize_section(pre.get("objective")),
                             summarize_section(pre.get("data")), summarize_section(pre.get("tokenizer")),
                             summarize_section(pre.get("model"))])
        else:   # a run with its own architecture and tokenizer and no pretraining run behind it
            own = run_cfgs[0] if run_cfgs else {}
            rows.append([arm, init_text, strategies, "none", "–", "–", summarize_section(own.get("tokenizer")),
                         summarize_section(own.get("model"))])
    return Table(["arm", "init", "strategy", "pretraining run", "objective", "corpus", "tokenizer", "model"], rows,
                 align="llllllll",
                 notes=["Scratch arms built from a pretraining run reuse its tokenizer and architecture with fresh "
                        "weights, so the comparison isolates the weights."])


def finetune_setup(cmp: Comparison) -> str:
    """One sentence on the fine-tuning side: task, data, labelled pool."""
    cfg = next((c.run.config for c in cmp.cells if c.run and c.run.config), {})
    parts = [f"task: {summarize_section(cfg.get('task')) if cfg.get('task') else cmp.task or '–'}"]
    if cfg.get("data"):   # the label budget varies by cell; the rest of the data section is shared
        data = {k: v for k, v in cfg["data"].items() if k != "label_budget"}
        parts.append(f"fine-tune data: {summarize_section(data)}")
    if is_number(cmp.n_train_pool):
        parts.append(f"labelled pool: {cmp.n_train_pool:,} examples")
    seeds = sorted({str(c.seed) for c in cmp.cells})
    parts.append(f"seeds: {', '.join(seeds)}")
    return "; ".join(parts) + "."

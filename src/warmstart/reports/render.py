"""Assemble and write the report: a compare directory (or one run directory) in, report.html and
report.md (+ report_*.png figures for the Markdown) out, in that same directory.

A report is a flat list of blocks (headings, paragraphs, bullet lists, tables, figures) built once
and rendered twice, so the HTML and Markdown always carry the same numbers. The HTML is
self-contained: inline CSS, figures as base64 PNG data URIs, no scripts, and a Content-Security-
Policy that forbids loading anything from elsewhere, so it opens offline and leaks no requests.
"""

from __future__ import annotations

import base64
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path

from warmstart.reports import advice, analysis, groups, lineage, plots, tables
from warmstart.reports.collect import Comparison, Run, detect, find_run, is_number, load_comparison, load_run, read_json
from warmstart.reports.lineage import summarize_section
from warmstart.reports.tables import Table, fmt_count, fmt_metric, fmt_seconds, fmt_signed

# ----------------------------------------------------------------------------- blocks


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str
    kind: str = "p"          # "p", "lead" (intro) or "note" (caveats, missing data)


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Plot:
    name: str                # file stem: report_<name>.png next to report.md
    caption: str
    png: bytes


Block = Heading | Paragraph | Bullets | Table | Plot


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _plot(name: str, caption: str, fig) -> list[Block]:
    return [] if fig is None else [Plot(name, caption, plots.to_png(fig))]


# ----------------------------------------------------------------------------- compare report


def compare_blocks(cmp: Comparison, target_fraction: float = 0.95, confidence: float = 0.95) -> tuple[str, list[Block]]:
    """Title and blocks of the transfer report for one comparison."""
    scratch = cmp.scratch_arm
    savings = analysis.labels_saved(cmp)
    lifts = analysis.lifts(cmp, confidence)
    conv = analysis.convergence(cmp, target_fraction)
    targets = analysis.scratch_targets(cmp, target_fraction)
    pct = f"{100 * confidence:g}%"

    blocks: list[Block] = [
        Paragraph(f"{_plural(len(cmp.arms), 'arm')} ({', '.join(cmp.arms)}) × "
                  f"{_plural(len(cmp.budgets), 'label budget')}, "
                  f"{_plural(len(cmp.cells), 'finished cell')}. Headline metric: test {tables.metric_label(cmp)}. "
                  f"Source: {cmp.path}.", "lead"),
        Paragraph(lineage.finetune_setup(cmp), "lead"),
        *([Paragraph("Sources: " + "; ".join(f"{name} = {s.get('describe', s.get('kind'))}"
                                              for name, s in cmp.sources.items() if isinstance(s, dict))
                     + (f". Reference arm: {scratch}." if scratch else "."), "lead")] if cmp.sources else []),
        *[Paragraph(n, "note") for n in cmp.notes],
        Heading("What pretraining bought"),
    ]
    if scratch is None:
        blocks.append(Paragraph("No arm has init “scratch” and no reference arm was named, so there is no "
                                "baseline: labels saved, lift and convergence targets are not computed. The "
                                "ranking, curves and tables below still show each arm.", "note"))
    else:
        blocks.append(Bullets(headline(cmp, savings, lifts, conv, pct)))
    blocks += advice_blocks(cmp)

    blocks += [Heading("Data efficiency"),
               *_plot("efficiency", f"Test {cmp.metric} against the number of labelled examples.",
                      plots.efficiency_figure(cmp)),
               tables.efficiency_table(cmp)]
    variants = tables.variant_table(cmp)
    if variants is not None:
        blocks += [Heading("Quantized and pruned arms"), variants]
    if savings:
        blocks += [Heading("Labels saved"),
                   Paragraph(f"How many labels {scratch} needs to match each arm's mean test {cmp.metric}."),
                   tables.labels_saved_table(cmp, savings)]
    if lifts:
        blocks += [Heading(f"Lift over {scratch}"),
                   *_plot("lift", f"Test {cmp.metric} difference to {scratch} with its {pct} confidence interval.",
                          plots.lift_figure(cmp, lifts, confidence)),
                   tables.lift_table(cmp, lifts, confidence)]
    ranks = analysis.ranking(cmp, confidence)
    if ranks:
        blocks += [Heading("Ranking"), Paragraph(f"Which arm is best at each label budget, with its {pct} interval."),
                   tables.ranking_table(cmp, ranks, confidence)]
    blocks += [Heading("Convergence"),
               *_plot("convergence", f"Validation {cmp.metric} during fine-tuning, mean over seeds (band ±1 std), "
                      "against steps (top) and training wall-clock (bottom); dashed: target.",
                      plots.convergence_figure(cmp, targets)),
               tables.convergence_table(cmp, conv, target_fraction),
               Heading("Cost"), tables.cost_table(cmp)]
    forgetting = tables.forgetting_table(cmp)
    if forgetting is not None:
        blocks += [Heading("Forgetting check"), forgetting]
    blocks += group_blocks(cmp, confidence)
    blocks += [Heading("Lineage"), *pretrain_blocks(cmp), lineage.lineage_table(cmp)]
    if cmp.pretrain is not None:
        blocks += _plot("pretrain", "Pretraining loss.", plots.pretrain_figure(cmp.pretrain))
    return f"Transfer report: {cmp.name}", blocks


def headline(cmp: Comparison, savings, lifts, conv, pct: str) -> list[str]:
    """The few sentences a reader should leave with: per arm and budget, the label-equivalent and
    the lift with its interval; then convergence speed at the largest budget."""
    scratch = cmp.scratch_arm
    sx, _ = analysis.arm_curve(cmp, scratch)
    lift_at = {(it.arm, it.n_labels): it for it in lifts}
    out = []
    for s in savings:
        text = tables.saving_sentence(s, scratch, min(sx), max(sx))
        it = lift_at.get((s.arm, s.n_labels))
        if it is not None:
            iv = it.interval
            ci = (f"{pct} CI {fmt_signed(iv.low)} to {fmt_signed(iv.high)}, n={iv.n}, {iv.method}"
                  if not math.isnan(iv.low) else iv.method)
            text += (f"; test {cmp.metric} {fmt_metric(it.arm_mean)} vs {fmt_metric(it.scratch_mean)} "
                     f"(Δ {fmt_signed(iv.diff)}, {ci})")
        out.append(text + ".")
    largest = cmp.budgets[-1]
    at_largest = [c for c in conv if c.budget == largest and c.n_runs and not math.isnan(c.target)]
    if at_largest:
        parts = []
        for c in at_largest:
            if c.n_reached:
                parts.append(f"{c.arm} in {fmt_count(c.steps_to_target)} steps ({fmt_seconds(c.seconds_to_target)}, "
                             f"{c.n_reached}/{c.n_runs} seeds)")
            else:
                parts.append(f"{c.arm} never")
        out.append(f"At {cmp.n_labels_of(largest):,} labels, reaching the convergence target "
                   f"(val {cmp.metric} {fmt_metric(at_largest[0].target)}): " + "; ".join(parts) + ".")
    return out


def advice_blocks(cmp: Comparison) -> list[Block]:
    """The Advice section: for each source whose arms lost or whose pretraining was small, what happened
    (numbers from the runs) and what typically helps; nothing when every pretrained arm won."""
    found = advice.findings(cmp)
    if not found:
        return []
    blocks: list[Block] = [Heading("Advice")]
    for f in found:
        blocks += [Paragraph(f.text), *([Bullets(f.helps)] if f.helps else [])]
    return blocks


def group_blocks(cmp: Comparison, confidence: float = 0.95) -> list[Block]:
    """The bias check (cells with data.group_field): per-group test metrics per arm, worst group,
    best−worst gap with its interval, narrowed or widened against the reference arm; per-group
    recall differences for classification. Nothing when no cell recorded groups."""
    gaps = groups.group_gaps(cmp, confidence)
    if not gaps:
        return []
    ref = cmp.scratch_arm
    sizes = groups.group_sizes(cmp)
    blocks: list[Block] = [
        Heading("Per-group metrics (bias check)"),
        Paragraph(f"Test {cmp.metric} within each group of the data's group field ({len(sizes)} groups; test "
                  "examples per group: " + ", ".join(f"{g} {n}" for g, n in sizes.items()) + "). A small group's "
                  "metric is noisy: read the gap's interval before its value."),
    ]
    if ref is not None:
        items = []
        for it in gaps:
            if it.vs_reference is None:
                continue
            ref_gap = next(g for g in gaps if g.arm == ref and g.n_labels == it.n_labels).gap.diff
            items.append(f"{it.arm} at {it.n_labels:,} labels: gap {fmt_metric(it.gap.diff)} vs {ref} "
                         f"{fmt_metric(ref_gap)} (Δ {fmt_signed(it.vs_reference.diff)}): {it.verdict()}; worst "
                         f"group {it.worst} {fmt_metric(it.worst_value)}.")
        if items:
            blocks.append(Bullets(items))
    blocks.append(groups.gap_table(cmp, gaps, confidence))
    recall = groups.recall_gaps(cmp)
    if recall:
        blocks += [Heading("Per-group recall (equalized odds)", 3), groups.recall_gap_table(cmp, recall),
                   groups.recall_by_group_table(recall)]
    missing = sum(1 for c in cmp.cells if not groups.by_group(c))
    if missing:
        blocks.append(Paragraph(f"{_plural(missing, 'cell')} recorded no per-group metrics (e.g. baselines, or "
                                "runs without data.group_field) and are not in these tables.", "note"))
    return blocks


def pretrain_blocks(cmp: Comparison) -> list[Block]:
    run = cmp.pretrain
    if run is None:
        ref = cmp.pretrained_ref or "none recorded"
        return [Paragraph(f"Pretraining run: {ref} (not found; details below come from the cells' configs).", "note")]
    cfg = run.config
    text = f"Pretraining run: {run.path}"
    details = [f"objective: {summarize_section(cfg.get('objective'))}" if cfg.get("objective") else None,
               f"corpus: {summarize_section(cfg.get('data'))}" if cfg.get("data") else None]
    cost = analysis.pretrain_cost(run)
    if cost:
        details.append(f"{fmt_count(cost['steps'])} steps, {fmt_count(cost['items_seen'])} items, "
                       f"{fmt_seconds(cost['train_seconds'])}")
    last = next((p for p in reversed(run.val) if is_number(p.get("loss"))), None)
    if last:
        ppl = f" (ppl {fmt_metric(last['ppl'])})" if is_number(last.get("ppl")) else ""
        details.append(f"final val loss {fmt_metric(last['loss'])}{ppl}")
    details = [d for d in details if d]
    return [Paragraph(text + (": " + "; ".join(details) if details else "") + ".")]


# ----------------------------------------------------------------------------- single-run report


def run_blocks(run: Run) -> tuple[str, list[Block]]:
    """Title and blocks of the smaller report for one run directory: results, setup, curves."""
    cfg, res = run.config, run.result or {}
    verb = cfg.get("verb") or ("finetune" if "test" in res or run.test
                               else "pretrain" if cfg.get("objective") else "run")
    blocks: list[Block] = [Paragraph(f"A {verb} run. Source: {run.path}.", "lead")]
    if run.result is None:
        blocks.append(Paragraph("No result.json (the run may not have finished): numbers below come from "
                                "metrics.jsonl.", "note"))

    # Results: one row per metric, one column per split record we have.
    columns = {"test": res.get("test") or (run.test[-1] if run.test else None),
               "best val": res.get("best_val"),
               "final val": res.get("val") or (run.val[-1] if run.val else None)}
    columns = {k: v for k, v in columns.items() if isinstance(v, dict)}
    keys = [k for k in dict.fromkeys(k for v in columns.values() for k in v) if k not in plots.SKIP_KEYS - {"loss"}]
    keys = [k for k in keys if any(is_number(v.get(k)) for v in columns.values())]
    blocks.append(Heading("Results"))
    if keys:
        blocks.append(Table(["metric", *columns], [[k, *(fmt_metric(v.get(k, math.nan)) for v in columns.values())]
                                                   for k in keys]))
    last = (run.train or run.val or [{}])[-1]
    facts = [("steps", fmt_count(res.get("steps", last.get("step")))),
             ("best step", fmt_count(res.get("best_step"))),
             ("training time", fmt_seconds(res.get("train_seconds", last.get("elapsed_s")))),
             ("time to best", fmt_seconds(res.get("seconds_to_best"))),
             ("items seen", fmt_count(res.get("items_seen", last.get("items")))),
             ("labelled examples", fmt_count(res.get("n_labels"))),
             ("params trained", fmt_count(res.get("params_trained"))),
             ("params total", fmt_count(res.get("params_total")))]
    blocks.append(Table(["", "value"], [[k, v] for k, v in facts if v != "–"]))
    if isinstance(res.get("forgetting"), dict):
        f = res["forgetting"]
        blocks.append(Paragraph(f"Forgetting check ({f.get('objective', '?')}): pretraining val loss "
                                f"{fmt_metric(f.get('val_loss_before', math.nan))} before, "
                                f"{fmt_metric(f.get('val_loss_after', math.nan))} after fine-tuning."))
    blocks += _plot("curves", "Loss and validation metrics against training steps.", plots.run_figure(run))

    blocks.append(Heading("Setup and lineage"))
    rows = [[name, summarize_section(section)] for name, section in cfg.items() if isinstance(section, dict)
            and name not in ("lineage",)]
    if cfg.get("init"):
        rows.insert(0, ["init", f"{cfg['init']} ({cfg.get('init_weights', 'pretrained')} weights)"])
        found = find_run(str(cfg["init"]), run.path, run.path.parent, run.path.parent.parent)
        pre = read_json(found / "config.json") if found and (found / "config.json").is_file() else {}
        for name in ("objective", "data", "tokenizer", "model"):
            if pre.get(name):
                rows.append([f"pretraining {name}", summarize_section(pre[name])])
    blocks.append(Table(["section", "resolved config"], rows, align="ll"))
    return f"Run report: {run.name}", blocks


# ----------------------------------------------------------------------------- HTML


CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;
background:#fff;margin:0}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:8px 0 12px}
h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid #ddd}
p.lead{color:#333;margin:4px 0}
p.note{color:#7a4b00;background:#fff7e6;border-left:3px solid #e0a020;padding:6px 10px;margin:8px 0}
p.tnote{color:#555;font-size:13px;margin:4px 0 12px}
ul.headline li{margin:4px 0}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e3e3e3;padding:5px 10px;vertical-align:top}
th{background:#f4f5f7;font-weight:600;border-bottom:2px solid #ccc}
td.r,th.r{text-align:right;white-space:nowrap}
td.l,th.l{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
figure{margin:12px 0}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:#555;font-size:13px;margin-top:4px}
footer{color:#888;font-size:12px;margin-top:40px}
"""  # noqa: E501 - the CSS goes into the report verbatim; its rules stay one per line

# The policy only allows what the page contains: inline styles and data: images. Anything else a
# future edit adds (a CDN script, a remote font) is blocked and shows up as a console error.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _html_table(t: Table) -> str:
    align = t.alignment()
    head = "".join(f'<th class="{align[i]}">{html.escape(c)}</th>' for i, c in enumerate(t.columns))
    body = "".join("<tr>" + "".join(f'<td class="{align[i]}">{html.escape(v)}</td>' for i, v in enumerate(row))
                   + "</tr>" for row in t.rows)
    notes = "".join(f'<p class="tnote">{html.escape(n)}</p>' for n in t.notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n{notes}"


def to_html(title: str, blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            parts.append(f'<p class="{b.kind}">{html.escape(b.text)}</p>')
        elif isinstance(b, Bullets):
            parts.append('<ul class="headline">' + "".join(f"<li>{html.escape(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            parts.append(_html_table(b))
        elif isinstance(b, Plot):
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b.caption)}">'
                         f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    body = "\n".join(parts)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{html.escape(title)}</h1>\n{body}\n"
            f"<footer>Written by warmstart report from the run artifacts (config.json, metrics.jsonl, result.json, "
            f"compare.json).</footer>\n</main>\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- Markdown


def _md_escape(text: str) -> str:
    for ch in "\\`*_[]|<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _md_table(t: Table) -> str:
    align = t.alignment()
    lines = ["| " + " | ".join(_md_escape(c) or " " for c in t.columns) + " |",
             "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|"]
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in t.rows]
    notes = [f"_{_md_escape(n)}_" for n in t.notes]
    return "\n\n".join(["\n".join(lines), *notes])


def to_markdown(title: str, blocks: list[Block]) -> str:
    parts = [f"# {_md_escape(title)}"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {_md_escape(b.text)}")
        elif isinstance(b, Paragraph):
            parts.append(("> " if b.kind == "note" else "") + _md_escape(b.text))
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {_md_escape(i)}" for i in b.items))
        elif isinstance(b, Table):
            parts.append(_md_table(b))
        elif isinstance(b, Plot):
            parts.append(f"![{_md_escape(b.caption)}](report_{b.name}.png)\n\n_{_md_escape(b.caption)}_")
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- writing


def _write_atomic(path: Path, data: bytes) -> None:
    """Write next to the target, then rename over it: a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(path: str | os.PathLike, *, target_fraction: float = 0.95, confidence: float = 0.95) -> Path:
    """Write report.html and report.md (+ report_*.png) into `path` and return report.html's path.

    `path` is a compare directory (the transfer report) or a single run directory (its curves and
    results). `target_fraction` sets the convergence target (fraction of scratch's best validation
    metric); `confidence` the level of the lift intervals.
    """
    path = Path(path)
    if detect(path) == "compare":
        title, blocks = compare_blocks(load_comparison(path), target_fraction, confidence)
    else:
        title, blocks = run_blocks(load_run(path))

    figures = [b for b in blocks if isinstance(b, Plot)]
    keep = {f"report_{f.name}.png" for f in figures}
    for stale in path.glob("report_*.png"):   # figures of an earlier report that this one no longer has
        if stale.name not in keep:
            stale.unlink()
    for f in figures:
        _write_atomic(path / f"report_{f.name}.png", f.png)
    _write_atomic(path / "report.md", to_markdown(title, blocks).encode("utf-8"))
    out = path / "report.html"
    _write_atomic(out, to_html(title, blocks).encode("utf-8"))
    return out

"""Pretraining throughput and MFU: warmstart's loop vs transformers.Trainer on the identical model and data.

    PYTHONPATH=src .venv/bin/python benchmarks/pretrain_speed.py [--quick] [--rounds 6] [--steps 4] [--eager]

For each architecture (GPT-2-style causal LM, BERT-style masked LM; 6 layers, d_model 256, 4 heads,
context 256, vocab 8k, batch 8 in full mode) every arm starts from the same initial weights and reads
the same packed token blocks of gensim's Wikipedia excerpt. The arms run in one process, alternating
(arm A chunk, arm B chunk, ..., repeated --rounds times), because the 2 cores are shared and the
load moves minute to minute; the ratio is the median over rounds of the paired per-round ratios.

  warmstart arms  the real pieces of `warmstart pretrain` (schema config, tokenizer, token cache,
                  backbone, objective, strategy, optimizer, schedule) and the one loop,
                  training.loop.train, called in chunks; tokens/s from the loop's own clock
                  (metrics.jsonl elapsed_s), which excludes evaluation and checkpoint writes.
                  Fast paths on: train.compile (full mode) with train.dropout_rng=hash (its default),
                  optim.implementation=fused, packed blocks, the LM loss only where needed;
                  --eager adds the same arm uncompiled.
  Trainer arms    transformers.Trainer on GPT2LMHeadModel / BertForMaskedLM holding the same weights,
                  with its defaults (adamw_torch, no compile), the same batch size, LR, clipping and
                  precision; tokens/s between on_step_end callbacks. In full mode also the same
                  Trainer with torch_compile=True (its best CPU configuration, the fair peer of the
                  compiled warmstart arm); every arm's ratio is reported against both Trainer arms.

bf16 arms run only on CPUs with native bf16 (AVX512-BF16/AMX, training.precision.bf16_native()): elsewhere
oneDNN emulates bf16 (a loop of bf16 2048^2 matmuls did not finish in 10 minutes on an AVX2-only machine),
so by default they are skipped and the table says so; --precisions bf16 asks for them anyway.

Every arm first runs one untimed warm-up chunk (compilation, recompiles, allocator warm-up); then
in every chunk the first step is not timed either.
MFU = tokens/s x model FLOPs per token / the peak FLOP/s of a large torch matmul in the same
precision, measured in the same round right before the chunks (best of 5 products of 2048 x 2048);
the row's MFU is the median over rounds. The "best step" columns use each arm's fastest timed step
over all rounds (and, for MFU, the highest peak measured): interference from other processes only
ever slows a step, so on shared cores these are the least disturbed, most repeatable numbers.
Model FLOPs per token = 6 x (non-embedding parameters + the LM-head matmul x the fraction of positions
it is needed at: (T-1)/T causal, mask_prob masked) + 12 x n_layers x d_model x T (attention scores
and values, forward + backward, not halved for the causal mask: the PaLM convention).
Data wait = time inside the loop's next(batches) / step time, over the same timed steps.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import torch

import common
from warmstart.training.precision import bf16_native

FULL = dict(n_layers=6, d_model=256, n_heads=4, max_len=256, vocab_size=8000, batch_size=8)
QUICK = dict(n_layers=2, d_model=64, n_heads=2, max_len=32, vocab_size=400, batch_size=4)
LR = 5e-4


def make_config(arch: str, shape: dict, tmp: Path, corpus: Path, precision: str, compile: bool, impl: str):
    from warmstart.config.schema import PretrainConfig

    return PretrainConfig.model_validate({
        "run": {"name": f"{arch}-{precision}-{'compiled' if compile else 'eager'}", "out_dir": str(tmp), "seed": 0},
        "data": {"kind": "corpus", "path": str(corpus), "max_len": shape["max_len"], "val_frac": 0.02,
                 "cache_dir": str(tmp / "cache")},
        "tokenizer": {"kind": "bpe" if arch == "gpt2" else "wordpiece", "vocab_size": shape["vocab_size"]},
        "model": {"kind": "transformer", "arch": arch, "size": "small", "n_layers": shape["n_layers"],
                  "d_model": shape["d_model"], "n_heads": shape["n_heads"], "max_len": shape["max_len"],
                  "dropout": 0.1},
        "objective": {"kind": "causal_lm" if arch == "gpt2" else "masked_lm"},
        "optim": {"kind": "adamw", "lr": LR, "weight_decay": 0.01, "implementation": impl},
        "schedule": {"kind": "constant"},
        "train": {"max_steps": 1, "batch_size": shape["batch_size"], "precision": precision, "compile": compile,
                  "log_every": 1, "eval_every": 1_000_000, "progress": False, "keep_checkpoints": 1},
    })


class Corpus:
    """Tokenizer, special ids and packed training blocks for one architecture (shared by every arm)."""

    def __init__(self, arch: str, shape: dict, tmp: Path, texts: list[str]):
        from warmstart.inputs import open_inputs

        self.path = tmp / f"corpus-{arch}.txt"
        self.path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        self.cfg = make_config(arch, shape, tmp, self.path, "fp32", False, "fused")
        self.inputs = open_inputs(self.cfg.data)
        self.docs = self.inputs.read_pretrain(0)
        self.inputs.fit(self.cfg, self.docs)
        self.train_set, _ = self.inputs.pretrain_sets(self.docs, self.cfg, lambda *_: None)


class WarmstartArm:
    def __init__(self, name: str, corpus: Corpus, cfg, tmp: Path):
        from warmstart.config.schema import FullStrategy
        from warmstart.data.loaders import BatchIterator
        from warmstart.models import build_backbone
        from warmstart.objectives import build_objective
        from warmstart.optim import build_optimizer, build_schedule
        from warmstart.strategies import build_strategy
        from warmstart.training.loop import MetricsLog
        from warmstart.training.state import TrainState

        class TimedBatches(BatchIterator):
            """The loop's batch iterator, recording how long each next() takes (the data wait)."""

            waits: list[float] = []

            def __next__(self):
                t0 = time.perf_counter()
                batch = super().__next__()
                self.waits.append(time.perf_counter() - t0)
                return batch

        self.name, self.cfg, self.kind = name, cfg, "warmstart"
        self.precision, self.compile = cfg.train.precision, cfg.train.compile
        torch.manual_seed(0)  # every arm (and the Trainer's copy) starts from the same weights
        backbone = build_backbone(cfg.model, **corpus.inputs.backbone_args())
        self.module = build_objective(cfg.objective, backbone, corpus.inputs.objective_info(corpus.docs))
        self.strategy = build_strategy(FullStrategy())
        self.optimizer = build_optimizer(self.strategy.param_groups(self.module, cfg.optim.lr), cfg.optim)
        self.schedule = build_schedule(self.optimizer, cfg.schedule, 1_000_000)
        self.batches = TimedBatches(corpus.train_set.n, corpus.train_set.make_batch, cfg.train.batch_size, 0)
        self.batches.waits = []
        self.run_dir = tmp / cfg.run.name
        self.run_dir.mkdir(parents=True)
        self.state, self.log = TrainState(), MetricsLog(self.run_dir / "metrics.jsonl")
        self.tokens_per_step = cfg.train.batch_size * cfg.data.max_len

    def run_chunk(self, steps: int) -> dict:
        from warmstart.training.loop import Training, train
        from warmstart.training.monitor import Monitor

        first = self.state.step + 1
        n_waits = len(self.batches.waits)
        tcfg = self.cfg.train.model_copy(update={"max_steps": self.state.step + steps})
        run = Training(self.strategy, self.optimizer, self.schedule, self.batches, tcfg, self.state, self.log)
        # No checkpoints: the arm measures training steps only.
        self.state = train(self.module, run, lambda _: {"loss": float("nan")}, Monitor("loss", higher=False),
                           save=None, say=lambda *_: None)
        lines = [json.loads(ln) for ln in self.log.path.read_text().splitlines()]
        train_lines = {r["step"]: r for r in lines if r["split"] == "train" and r["step"] >= first}
        clock = [train_lines[s]["elapsed_s"] for s in range(first, self.state.step + 1)]
        seconds = clock[-1] - clock[0]
        # next() calls of this chunk after its first step (a first-step eval batch is not in this list)
        waits = self.batches.waits[n_waits:][-(steps - 1):]
        return {"tokens_per_s": (steps - 1) * self.tokens_per_step / seconds, "data_wait_frac": sum(waits) / seconds,
                "loss": train_lines[self.state.step]["loss"], "step_s": [b - a for a, b in pairwise(clock)]}


class TrainerArm:
    def __init__(self, name: str, arch: str, corpus: Corpus, source: WarmstartArm, precision: str, tmp: Path,
                 compile: bool = False):
        from transformers import BertForMaskedLM, DataCollatorForLanguageModeling, GPT2LMHeadModel, TrainerCallback

        self.name, self.arch, self.precision, self.kind, self.compile = name, arch, precision, "trainer", compile
        self.tmp, self.batch_size = tmp / name, source.cfg.train.batch_size
        # A copy: warmstart's compiled arm switches its own model's attention function (hash dropout).
        config = copy.deepcopy(source.module.backbone.model.config)
        self.model = GPT2LMHeadModel(config) if arch == "gpt2" else BertForMaskedLM(config)
        copy_weights(source.module, self.model, arch)
        blocks = corpus.train_set.make_batch

        class Blocks(torch.utils.data.Dataset):
            def __len__(self):
                return corpus.train_set.n

            def __getitem__(self, i):
                ids = blocks([i])["input_ids"][0]
                return {"input_ids": ids, "labels": ids} if arch == "gpt2" else {"input_ids": ids}

        self.dataset = Blocks()
        self.collator = (None if arch == "gpt2"
                         else DataCollatorForLanguageModeling(corpus.inputs.tokenizer, mlm_probability=0.15))
        self.tokens_per_step = source.tokens_per_step
        times: list[float] = []
        self.times = times

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                times.append(time.perf_counter())

        self.clock = Clock()
        self.round = 0

    def run_chunk(self, steps: int) -> dict:
        from transformers import Trainer, TrainingArguments

        args = TrainingArguments(
            output_dir=str(self.tmp), max_steps=steps, per_device_train_batch_size=self.batch_size, learning_rate=LR,
            weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="constant", logging_strategy="no",
            save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True, dataloader_num_workers=0,
            disable_tqdm=True,
            bf16=self.precision == "bf16", seed=self.round, torch_compile=self.compile)
        self.round += 1
        self.times.clear()
        out = Trainer(model=self.model, args=args, train_dataset=self.dataset, data_collator=self.collator,
                      callbacks=[self.clock]).train()
        seconds = self.times[-1] - self.times[0]
        return {"tokens_per_s": (steps - 1) * self.tokens_per_step / seconds, "data_wait_frac": None,
                "loss": out.training_loss, "step_s": [b - a for a, b in pairwise(self.times)]}


def copy_weights(module, hf_model, arch: str) -> None:
    """Put warmstart's initial weights into the HF LM model, so both arms train the same network."""
    body = hf_model.transformer if arch == "gpt2" else hf_model.bert
    body.load_state_dict(module.backbone.model.state_dict(), strict=True)
    if arch == "bert":  # BERT's MLM head: dense + GELU + LayerNorm, then the tied decoder + bias
        pred = hf_model.cls.predictions
        t = module.head.transform
        pred.transform.dense.load_state_dict(t[0].state_dict())
        pred.transform.LayerNorm.load_state_dict(t[2].state_dict())
        with torch.no_grad():
            pred.bias.copy_(module.head.bias)
    hf_model.tie_weights()


def parity(ws: WarmstartArm, hf_model, corpus: Corpus) -> float | None:
    """|warmstart loss - HF loss| on one batch with identical weights (causal LM: deterministic)."""
    if ws.cfg.objective.kind != "causal_lm":
        return None
    batch = corpus.train_set.make_batch(list(range(ws.cfg.train.batch_size)))
    ws.module.eval()
    hf_model.eval()
    with torch.no_grad():
        a = float(ws.module(batch).loss)
        b = float(hf_model(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss)
    return abs(a - b)


def flops_per_token(module, objective: str, mask_prob: float, seq_len: int) -> float:
    """Model FLOPs per input token for one training step (see the module docstring)."""
    hf = module.backbone.model
    emb = sum(m.weight.numel() for m in hf.modules() if isinstance(m, torch.nn.Embedding))
    n_body = sum(p.numel() for p in hf.parameters()) - emb
    vocab, d = module.head.bias.numel(), module.backbone.feature_dim
    n_head = vocab * d + sum(p.numel() for p in module.head.transform.parameters())
    frac = (seq_len - 1) / seq_len if objective == "causal_lm" else mask_prob
    n_layers = hf.config.num_hidden_layers
    return 6 * (n_body + frac * n_head) + 12 * n_layers * d * seq_len


def bench_precisions(requested: str | None, quick: bool, native_bf16: bool) -> tuple[list[str], dict[str, str]]:
    """The precisions to run and {precision: why skipped}. Default: fp32 (quick) or fp32 and bf16 (full),
    minus bf16 on a CPU without native bf16; an explicit --precisions list runs as asked."""
    if requested:
        return requested.split(","), {}
    if quick:
        return ["fp32"], {}
    if native_bf16:
        return ["fp32", "bf16"], {}
    return ["fp32"], {"bf16": "this CPU has no native bf16 (AVX512-BF16/AMX), so oneDNN would emulate it, far slower "
                              "than fp32 (pass --precisions fp32,bf16 to run it anyway)"}


def paired_ratios(runs: list[dict], base: list[dict]) -> list[float]:
    """Per-round tokens/s ratios of an arm to a baseline arm (same rounds, run alternately)."""
    return [x["tokens_per_s"] / y["tokens_per_s"] for x, y in zip(runs, base, strict=True)]


def main(argv: list[str] | None = None) -> None:
    def extra(ap):
        ap.add_argument("--rounds", type=int, default=None, help="alternation rounds (default 6; quick 1)")
        ap.add_argument("--steps", type=int, default=None,
                        help="steps per chunk, the first untimed (default 4; quick 3)")
        ap.add_argument("--archs", default="gpt2,bert", help="comma list of gpt2, bert")
        ap.add_argument("--precisions", default=None, help="comma list of fp32, bf16 (default both; quick fp32)")
        ap.add_argument("--eager", action="store_true",
                        help="also a warmstart arm without torch.compile (what compile buys)")
        ap.add_argument("--no-compile", action="store_true", help="warmstart arms eager only (no torch.compile)")
        ap.add_argument("--threads", type=int, default=None,
                        help="torch threads for every arm (default: the cores available, "
                        "as train.num_threads); the JSON is then pretrain_speed_threadsN.json")

    args = common.parse_args(__doc__, extra, argv)
    # Quick mode is a smoke test on tiny tensors: one thread, because with cores shared by other
    # processes, two threads on tiny ops spend most of their time waiting for each other.
    threads = args.threads or (1 if args.quick else len(os.sched_getaffinity(0)))
    torch.set_num_threads(threads)
    shape = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 6)
    steps = args.steps or (3 if args.quick else 4)
    precisions, skipped = bench_precisions(args.precisions, args.quick, bf16_native())
    for note in skipped.values():
        print(note, flush=True)
    compiled = not (args.quick or args.no_compile)
    n_peak = 256 if args.quick else 2048

    peak_reps = 3 if args.quick else 5
    peaks: dict[str, list[float]] = {p: [] for p in precisions}
    texts = common.corpus_texts(args.quick)
    results, checks = [], {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for arch in args.archs.split(","):
            corpus = Corpus(arch, shape, tmp, texts)
            arms = []
            for prec in precisions:
                if compiled:
                    arms.append(WarmstartArm(f"{arch} warmstart {prec} compiled", corpus,
                                             make_config(arch, shape, tmp, corpus.path, prec, True, "fused"), tmp))
                if not compiled or args.eager:
                    arms.append(WarmstartArm(f"{arch} warmstart {prec} eager", corpus,
                                             make_config(arch, shape, tmp, corpus.path, prec, False, "fused"), tmp))
                source = arms[-1]
                arms.append(TrainerArm(f"{arch} Trainer {prec}", arch, corpus, source, prec, tmp))
                if compiled:  # the fair peer of the compiled warmstart arm
                    arms.append(TrainerArm(f"{arch} Trainer {prec} compiled", arch, corpus, source, prec, tmp,
                                           compile=True))
            checks[f"{arch}_loss_parity_abs"] = parity(arms[0], arms[-1].model, corpus)
            fpt = flops_per_token(arms[0].module, arms[0].cfg.objective.kind, 0.15, shape["max_len"])
            for a in arms:
                # One untimed chunk per arm first: compilation, and the masked LM's one recompile
                # when its varying count of masked positions makes that dimension dynamic.
                a.run_chunk(steps)
            runs = {a.name: [] for a in arms}
            for r in range(rounds):
                # The peak is measured every round, next to the chunks it is compared with: the load
                # from other processes on these cores moves, and it moves both numbers alike.
                peak = {p: common.matmul_peak(p, n_peak, peak_reps) for p in precisions}
                for p in precisions:
                    peaks[p].append(peak[p])
                for a in arms:
                    res = a.run_chunk(steps)
                    res["mfu"] = res["tokens_per_s"] * fpt / peak[a.precision]
                    runs[a.name].append(res)
                    print(f"round {r + 1}/{rounds} {a.name}: {res['tokens_per_s']:,.0f} tokens/s", flush=True)
            for a in arms:
                tps = [x["tokens_per_s"] for x in runs[a.name]]
                waits = [x["data_wait_frac"] for x in runs[a.name] if x["data_wait_frac"] is not None]
                # The paired baselines: the Trainer arms of the same precision (eager; compiled), chunk by chunk.
                base = next(b for b in arms if b.kind == "trainer" and b.precision == a.precision and not b.compile)
                peer = next((b for b in arms if b.kind == "trainer" and b.precision == a.precision and b.compile), None)
                ratios = paired_ratios(runs[a.name], runs[base.name])
                peer_ratios = paired_ratios(runs[a.name], runs[peer.name]) if peer else None
                # Best step: other processes on the cores only ever slow a step down, so each arm's
                # fastest step (over all rounds) is its least disturbed one.
                best = a.tokens_per_step / min(t for x in runs[a.name] for t in x["step_s"])
                best_base = base.tokens_per_step / min(t for x in runs[base.name] for t in x["step_s"])
                results.append({
                    "arch": arch, "arm": a.name, "runner": a.kind, "precision": a.precision, "compiled": a.compile,
                    "tokens_per_s": common.median(tps), "tokens_per_s_rounds": tps,
                    "ratio_vs_trainer": common.median(ratios),
                    "ratio_rounds": ratios,
                    "ratio_vs_trainer_compiled": common.median(peer_ratios) if peer else None,
                    "ratio_compiled_rounds": peer_ratios,
                    "flops_per_token": fpt, "achieved_flops": common.median(tps) * fpt,
                    "data_wait_frac": common.median(waits), "final_loss": runs[a.name][-1]["loss"],
                    "mfu": common.median([x["mfu"] for x in runs[a.name]]),
                    "mfu_rounds": [x["mfu"] for x in runs[a.name]],
                    "best_step_tokens_per_s": best, "best_step_ratio_vs_trainer": best / best_base,
                    "best_step_mfu": best * fpt / max(peaks[a.precision]),
                })

    common.print_table(
        f"Pretraining throughput ({shape['n_layers']} layers, d_model {shape['d_model']}, context {shape['max_len']}, "
        f"vocab {shape['vocab_size']}, batch {shape['batch_size']}, {threads} threads; "
        f"median of {rounds} alternating rounds)",
        ["arm", "tokens/s", "x Trainer", "x Trainer compiled", "MFU", "best step: tokens/s", "x Trainer", "MFU",
         "data wait"],
        [[r["arm"], r["tokens_per_s"], r["ratio_vs_trainer"], r["ratio_vs_trainer_compiled"],
          f"{100 * r['mfu']:.1f}%", r["best_step_tokens_per_s"],
          r["best_step_ratio_vs_trainer"], f"{100 * r['best_step_mfu']:.1f}%",
          None if r["data_wait_frac"] is None else f"{100 * r['data_wait_frac']:.2f}%"] for r in results]
        + [[f"{p} arms", f"skipped: {note}", None, None, None, None, None, None, None] for p, note in skipped.items()])
    common.print_table("Matmul peak measured each round (the MFU denominator of that round's chunks)",
                       ["precision", "GFLOP/s min", "GFLOP/s median", "GFLOP/s max"],
                       [[p, min(v) / 1e9, common.median(v) / 1e9, max(v) / 1e9] for p, v in peaks.items()])
    common.write_json(args.out, "pretrain_speed" if args.threads is None else f"pretrain_speed_threads{threads}", {
        "threads": threads, "shape": shape, "rounds": rounds, "steps_per_chunk": steps,
        "timed_steps_per_chunk": steps - 1,
        "matmul_n": n_peak, "peak_flops_rounds": peaks, "rows": results, "checks": checks, "skipped": skipped,
    }, args.quick)


if __name__ == "__main__":
    sys.exit(main())

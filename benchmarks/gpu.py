"""GPU pretraining throughput and MFU at GPT-2-124M shape: warmstart's loop vs transformers.Trainer, and
the peak memory of the LM loss whole vs chunked. Runs only where CUDA exists (scripts/gpu_check.sh).

    PYTHONPATH=src .venv/bin/python benchmarks/gpu.py [--batch 16] [--steps 30] [--warmup 8] [--out DIR]

Shape: 12 layers, d_model 768, 12 heads, context 1024, vocab 50,257 (124,439,808 parameters with
the LM head tied; warmstart's LM head adds a 50,257-entry bias that GPT2LMHeadModel lacks), dropout 0.
Both arms start from the same initial weights, read the same blocks of token ids (uniform random
ids: the speed of a step does not depend on which ids they are) and train in bf16 autocast with fp32
weights, fused AdamW (lr 3e-4, weight decay 0.01), gradient clipping at 1.0, batch --batch x 1024 tokens, compiled:

  warmstart   the one loop (training.loop.train) with train.compile=true, train.precision=bf16 on
              train.device=cuda (TF32, pinned non-blocking copies, SDPA kernels), its chunked LM loss
  Trainer     transformers.Trainer(torch_compile=True, bf16=True, optim=adamw_torch_fused) on
              GPT2LMHeadModel holding the same weights

Each arm runs --warmup untimed steps (compilation, autotuning) and then --steps steps timed between
two torch.cuda.synchronize() calls, all in one training run. MFU = tokens/s x model FLOPs per token
(benchmarks/pretrain_speed.py's count: 6 x parameters that do matmuls + attention) / the GPU's bf16
matmul peak measured here (best of 10 products of 8192 x 8192, CUDA events). The LM loss rows:
forward+backward of the loss over the batch's hidden states, whole (N, V) logits vs
objective.loss_chunk's chunks, peak CUDA memory above what was allocated before the call.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import common

SHAPE = dict(n_layers=12, d_model=768, n_heads=12, max_len=1024, vocab_size=50257)
LR = 3e-4
SPECIAL = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
NO_CUDA = "benchmarks/gpu.py: no CUDA GPU on this machine (torch {version}); nothing measured - run it where one is"


def args_of(argv: list[str] | None = None):
    def extra(ap):
        ap.add_argument("--batch", type=int, default=16, help="sequences of 1024 tokens per step (default 16)")
        ap.add_argument("--steps", type=int, default=30, help="timed steps per arm (default 30)")
        ap.add_argument("--warmup", type=int, default=8, help="untimed steps first: compilation (default 8)")
        ap.add_argument("--arms", default="warmstart,trainer", help="comma list of warmstart, trainer")

    return common.parse_args(__doc__, extra, argv)


def mfu(tokens_per_s: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilization: achieved model FLOP/s over the measured matmul peak."""
    return tokens_per_s * flops_per_token / peak_flops


def build_module(shape: dict = SHAPE):
    """warmstart's GPT-2 causal-LM module (backbone + tied LM head) at `shape`, dropout 0."""
    from warmstart.config.schema import CausalLMObjective
    from warmstart.models.transformer import TransformerBackbone
    from warmstart.objectives import build_objective

    backbone = TransformerBackbone.build("gpt2", "base", vocab_size=shape["vocab_size"], max_len=shape["max_len"],
                                         special=SPECIAL, n_layers=shape["n_layers"], d_model=shape["d_model"],
                                         n_heads=shape["n_heads"], dropout=0.0)
    return build_objective(CausalLMObjective(), backbone, SPECIAL)


def cuda_matmul_peak(n: int = 8192, reps: int = 10) -> float:
    """bf16 FLOP/s of the best of `reps` (n x n) @ (n x n) products, timed with CUDA events."""
    import torch

    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return 2 * n**3 / best


def warmstart_arm(module, blocks, args, tmp: Path) -> float:
    """tokens/s of warmstart's loop over --steps steps after --warmup."""
    import torch

    from warmstart.config.schema import AdamWOptim, ConstantSchedule, FullStrategy, TrainSection
    from warmstart.data.loaders import BatchIterator
    from warmstart.optim import build_optimizer, build_schedule
    from warmstart.strategies import build_strategy
    from warmstart.training.device import configure, placed
    from warmstart.training.distributed import World
    from warmstart.training.loop import MetricsLog, Training, train
    from warmstart.training.monitor import Monitor
    from warmstart.training.state import TrainState

    world = World(device=torch.device("cuda"))
    configure(world.device)
    module.to(world.device)
    strategy = build_strategy(FullStrategy())
    optimizer = build_optimizer(strategy.param_groups(module, LR), AdamWOptim(lr=LR, weight_decay=0.01))
    schedule = build_schedule(optimizer, ConstantSchedule(), 10**6)
    make = placed(lambda idx: {"input_ids": blocks[idx], "attention_mask": torch.ones_like(blocks[idx])}, world.device)
    marks: list[float] = []

    class Clocked(BatchIterator):
        """Starts the clock as the first timed step draws its batch, once the warm-up steps have finished
        (one train() call for every step: no second torch.compile wrapper, no recompile in the window)."""

        drawn = 0

        def __next__(self):
            Clocked.drawn += 1
            if Clocked.drawn == args.warmup + 1:
                torch.cuda.synchronize()
                marks.append(time.perf_counter())
            return super().__next__()

    batches = Clocked(len(blocks), make, args.batch, seed=0)
    cfg = TrainSection(max_steps=args.warmup + args.steps, batch_size=args.batch, precision="bf16", compile=True,
                       device="cuda", log_every=10**6, eval_every=10**6, progress=False, grad_clip=1.0)
    run = Training(strategy, optimizer, schedule, batches, cfg, TrainState(), MetricsLog(tmp / "metrics.jsonl"), world)
    train(module, run, lambda _: {"loss": float("nan")}, Monitor("loss", higher=False), save=None, say=lambda *_: None)
    torch.cuda.synchronize()
    return args.steps * args.batch * SHAPE["max_len"] / (time.perf_counter() - marks[0])


def trainer_arm(hf_model, blocks, args, tmp: Path) -> float:
    """tokens/s of transformers.Trainer(torch_compile=True, bf16=True) over the same timed window."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            if state.global_step in (args.warmup, args.warmup + args.steps):
                torch.cuda.synchronize()
                marks[state.global_step] = time.perf_counter()

    class Blocks(torch.utils.data.Dataset):
        def __len__(self):
            return len(blocks)

        def __getitem__(self, i):
            return {"input_ids": blocks[i], "labels": blocks[i]}

    targs = TrainingArguments(
        output_dir=str(tmp), max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch,
        learning_rate=LR, weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="constant", optim="adamw_torch_fused",
        bf16=True, torch_compile=True, logging_strategy="no", save_strategy="no", eval_strategy="no",
        report_to="none", dataloader_pin_memory=True, disable_tqdm=True, seed=0)
    Trainer(model=hf_model, args=targs, train_dataset=Blocks(), callbacks=[Clock()]).train()
    return args.steps * args.batch * SHAPE["max_len"] / (marks[args.warmup + args.steps] - marks[args.warmup])


def loss_memory(n: int, d: int, v: int, chunk: int | None) -> dict:
    """Peak CUDA memory (MB above the inputs) and time of one forward+backward of the LM loss."""
    import torch

    from warmstart.objectives.lm_loss import lm_loss

    torch.manual_seed(0)
    h = torch.randn(n, d, device="cuda", requires_grad=True)
    w = (torch.randn(v, d, device="cuda") * 0.02).requires_grad_()
    b = torch.zeros(v, device="cuda", requires_grad=True)
    t = torch.randint(0, v, (n,), device="cuda")

    def once():
        h.grad = w.grad = b.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = lm_loss(h, w, b, t, chunk)
        loss.backward()

    once()  # warm-up
    h.grad = w.grad = b.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    once()
    torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t0, "peak_mb": (torch.cuda.max_memory_allocated() - base) / 2**20}


def main(argv: list[str] | None = None) -> int:
    args = args_of(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA.format(version=torch.__version__), file=sys.stderr)
        return 1
    from transformers import GPT2LMHeadModel

    from pretrain_speed import flops_per_token
    from warmstart.objectives.lm_loss import chunk_rows

    gpu = torch.cuda.get_device_name()
    peak = cuda_matmul_peak()
    print(f"{gpu}: bf16 matmul peak {peak / 1e12:.0f} TFLOP/s", flush=True)
    torch.manual_seed(0)
    module = build_module()
    fpt = flops_per_token(module, "causal_lm", 0.0, SHAPE["max_len"])
    hf_model = GPT2LMHeadModel(copy.deepcopy(module.backbone.model.config))  # the same initial weights
    hf_model.transformer.load_state_dict(module.backbone.model.state_dict(), strict=True)
    hf_model.tie_weights()
    g = torch.Generator().manual_seed(0)
    n_blocks = args.batch * (args.warmup + args.steps)
    blocks = torch.randint(0, SHAPE["vocab_size"], (n_blocks, SHAPE["max_len"]), generator=g)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for arm in args.arms.split(","):
            run = warmstart_arm if arm == "warmstart" else trainer_arm
            tps = run(module if arm == "warmstart" else hf_model, blocks, args, Path(d))
            rows.append({"arm": arm, "tokens_per_s": tps, "mfu": mfu(tps, fpt, peak),
                         "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30})
            print(f"{arm}: {tps:,.0f} tokens/s, MFU {100 * rows[-1]['mfu']:.1f}%", flush=True)
            module.to("cpu")
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    base = next((r["tokens_per_s"] for r in rows if r["arm"] == "trainer"), None)
    for r in rows:
        r["ratio_vs_trainer_compiled"] = r["tokens_per_s"] / base if base else None
    n, v = args.batch * SHAPE["max_len"], SHAPE["vocab_size"]
    loss_rows = [{"variant": name, **loss_memory(n, SHAPE["d_model"], v, c)}
                 for name, c in [("whole", None), (f"chunked ({chunk_rows('auto', v)} rows)", chunk_rows("auto", v))]]
    common.print_table(f"GPT-2-124M shape on {gpu}, bf16, compiled, batch {args.batch} x 1024, {args.steps} timed "
                       f"steps (bf16 matmul peak {peak / 1e12:.0f} TFLOP/s)",
                       ["arm", "tokens/s", "MFU", "x Trainer(torch_compile=True)", "peak memory GB"],
                       [[r["arm"], r["tokens_per_s"], f"{100 * r['mfu']:.1f}%", r["ratio_vs_trainer_compiled"],
                         r["peak_memory_gb"]] for r in rows])
    common.print_table(f"LM loss forward+backward, {n:,} tokens x {SHAPE['d_model']} x {v:,} (bf16 autocast)",
                       ["variant", "seconds", "peak MB"],
                       [[r["variant"], r["seconds"], r["peak_mb"]] for r in loss_rows])
    common.write_json(args.out, "gpu", {"gpu": gpu, "shape": SHAPE, "batch": args.batch, "steps": args.steps,
                                        "warmup": args.warmup, "peak_bf16_flops": peak, "flops_per_token": fpt,
                                        "rows": rows, "lm_loss": loss_rows}, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

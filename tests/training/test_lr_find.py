"""LR range test: the suggestion rule on synthetic curves (noise, NaN, divergence), and a real
sweep through the CLI that writes the plot and JSON."""

import json
import math

import numpy as np
import pytest

from warmstart.cli import main
from warmstart.training.lr_find import smooth, suggest_lr, sweep_lrs

LRS = sweep_lrs(1e-5, 10.0, 60)


def _curve(seed=0, noise=0.05):
    # Flat, then a steep descent centred at lr=1e-2 (in log space), then divergence past lr=1.
    rng = np.random.default_rng(seed)
    x = np.log10(LRS)
    loss = 2.0 - 1.5 / (1 + np.exp(-3 * (x + 2))) + np.where(x > 0, 10 ** (2 * x) - 1, 0)
    return list(loss + rng.normal(0, noise, len(x)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suggestion_lands_on_the_steep_part_despite_noise(seed):
    lr = suggest_lr(LRS, _curve(seed))
    assert 1e-3 <= lr <= 1e-1  # within a decade of the steepest point (1e-2), never in the divergent tail


def test_suggestion_ignores_nan_and_divergence():
    losses = _curve()
    losses[45:] = [float("nan")] * 15  # the run blew up: everything after is NaN
    losses[30] = float("inf")
    assert smooth(losses) == smooth(losses[:30])  # the first non-finite loss ends the usable range
    lr = suggest_lr(LRS, losses)
    assert 1e-3 <= lr <= 1e-1 and math.isfinite(lr)
    assert suggest_lr(LRS, [float("nan")] * 60) is None
    assert suggest_lr(LRS, [1.0 + i for i in range(60)]) == pytest.approx(LRS[0] / 10)  # loss only rises


def test_lr_find_cli_writes_plot_and_suggestion(tmp_path):
    cfg = tmp_path / "wine.yaml"
    cfg.write_text(f"""# warmstart lr-find wine.yaml
run: {{name: wine, out_dir: {tmp_path}/runs}}
data: {{kind: sklearn_table, name: wine}}
model: {{kind: mlp, n_layers: 1, d_model: 16}}
optim: {{kind: sgd, lr: 0.1}}
strategy: {{kind: discriminative, decay: 0.5}}
train: {{max_steps: 20, batch_size: 16, progress: false}}
""")
    assert main(["lr-find", str(cfg), "--steps", "20", "--min-lr", "1e-4", "--max-lr", "1e3"]) == 0
    out = tmp_path / "runs" / "wine-lr-find"
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "lr_find.json").read_text())
    assert len(result["lrs"]) == 20
    assert result["lrs"][0] == pytest.approx(1e-4) and result["lrs"][-1] == pytest.approx(1e3)
    assert result["suggested_lr"] is not None and 1e-4 <= result["suggested_lr"] <= 1e3
    assert None in result["losses"] or max(result["losses"]) > 2 * min(result["losses"])  # lr=1e3 diverges
    assert not (out / "checkpoints").exists()
    assert main(["lr-find", str(cfg), "--min-lr", "1", "--max-lr", "0.1"]) == 2

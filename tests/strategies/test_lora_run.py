"""A LoRA fine-tune end to end: adapters saved on their own, base weights strictly loadable,
evaluate/predict rebuild the adapters, export merges them (merged output == unmerged)."""

import torch

from warmstart import workflows
from warmstart.checkpoint.io import load_tensors, resolve_checkpoint
from warmstart.models import load_backbone


def test_lora_finetune_evaluate_export(tiny_text_csv, tiny_finetune_config, tmp_path):
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path,
                               strategy={"kind": "lora", "r": 2, "alpha": 4, "target_modules": ["query", "value"]},
                               optim={"kind": "adamw", "lr": 1e-2})
    lines = []
    result = workflows.finetune(cfg, say=lines.append)
    run = tmp_path / "ft"
    ckpt = resolve_checkpoint(run)
    adapter = load_tensors(ckpt, "adapter")
    assert adapter and all(".lora_A." in k or ".lora_B." in k for k in adapter)
    assert any(float(v.abs().sum()) > 0 for k, v in adapter.items() if ".lora_B." in k)  # the adapters trained
    plain = load_backbone(ckpt)  # backbone.safetensors loads strictly into a plain backbone
    assert set(load_tensors(ckpt, "backbone")) == set(plain.state_dict())
    # Trained vs total is printed at start and matches the result.
    assert any(f"{result['params_trained']:,} trained" in ln for ln in lines)
    assert result["params_trained"] < result["params_total"] / 5

    # evaluate rebuilds the LoRA layers and reproduces the run's test metrics.
    assert workflows.evaluate(run, "test") == result["test"]

    # export merges: the exported HF model equals the unmerged LoRA backbone.
    out = workflows.export(run, "hf-backbone", tmp_path / "hf")
    from transformers import AutoModel

    hf = AutoModel.from_pretrained(str(out), local_files_only=True).eval()
    module, _, _ = workflows.load_predictor(run)
    batch = module.backbone.example_batch(3)
    with torch.no_grad():
        unmerged = module.backbone(batch).tokens
        merged = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        base_only = plain.eval()(batch).tokens
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(base_only, unmerged, atol=1e-5)

"""export --format hf of a fine-tune: transformers' pipeline on the export predicts what warmstart predicts
(task.pooling=native for bert and gpt2, classification and regression, LoRA merged); a head that the
architecture cannot express fails with one line; --format hf-backbone keeps the backbone-only export."""

import pytest
import torch

from warmstart import workflows
from warmstart.errors import ConfigError

TEXTS = ["love it great", "awful bad sad movie", "the day was so very good", "hate this", "a movie", "really sad day"]


def _pipeline_scores(out, texts):
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(out), tokenizer=str(out), device="cpu", top_k=None)
    return [{d["label"]: d["score"] for d in row} for row in clf(texts)]


LORA = {"kind": "lora", "r": 2, "alpha": 4, "target_modules": "all-linear"}
GPT2 = {"kind": "transformer", "arch": "gpt2", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2}


@pytest.mark.parametrize("arch,strategy", [("bert", None), ("gpt2", None), ("bert", LORA)])
def test_native_classifier_pipeline_matches_predict(tiny_text_csv, tiny_finetune_config, tmp_path, arch, strategy):
    sections = {"task": {"kind": "classification", "pooling": "native"}}
    if arch == "gpt2":
        sections["model"] = GPT2
    if strategy:
        sections.update(strategy=strategy, optim={"kind": "adamw", "lr": 1e-2})
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, **sections)
    result = workflows.finetune(cfg, say=lambda *_: None)
    run = tmp_path / "ft"
    assert workflows.evaluate(run, "test") == result["test"]  # native pooling rebuilds exactly (LoRA too)

    out = workflows.export(run, "hf", tmp_path / "hf")
    ours = workflows.predict(run, TEXTS)
    theirs = _pipeline_scores(out, TEXTS)
    diff = max(abs(o["probs"][lab] - t[lab]) for o, t in zip(ours, theirs, strict=True) for lab in t)
    assert diff <= 1e-5, diff
    assert [o["label"] for o in ours] == [max(t, key=t.get) for t in theirs]

    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(out), local_files_only=True)
    assert config.problem_type == "single_label_classification"
    assert config.label2id == {"neg": 0, "pos": 1} and config.architectures[0].endswith("ForSequenceClassification")
    assert not (out / "warmstart_head.safetensors").exists()


@pytest.mark.parametrize("standardize", [True, False])
def test_native_regression_exports_values_in_original_units(tiny_text_csv, tiny_finetune_config, tmp_path, standardize):
    import csv

    rows = list(csv.DictReader(open(tiny_text_csv)))
    path = tmp_path / "reg.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in rows:
            w.writerow([r["text"], 4.0 + 3.0 * (r["label"] == "pos")])
    task = {"kind": "regression", "pooling": "native", "standardize": standardize}
    cfg = tiny_finetune_config(path, tmp_path, task=task)
    workflows.finetune(cfg, say=lambda *_: None)
    out = workflows.export(tmp_path / "ft", "hf", tmp_path / "hf")
    from transformers import pipeline

    reg = pipeline("text-classification", model=str(out), tokenizer=str(out), device="cpu")
    theirs = [r["score"] for r in reg(TEXTS)]
    ours = [p["value"] for p in workflows.predict(tmp_path / "ft", TEXTS)]
    torch.testing.assert_close(torch.tensor(theirs), torch.tensor(ours), rtol=0, atol=1e-4)


def test_non_native_head_fails_and_hf_backbone_still_exports(tiny_text_csv, tiny_finetune_config, tmp_path):
    cfg = tiny_finetune_config(tiny_text_csv, tmp_path, task={"kind": "classification", "pooling": "mean"})
    workflows.finetune(cfg, say=lambda *_: None)
    run = tmp_path / "ft"
    with pytest.raises(ConfigError, match=r"task.pooling=mean.*task.pooling=native.*--format hf-backbone") as e:
        workflows.export(run, "hf", tmp_path / "hf")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "hf").exists()  # nothing written
    out = workflows.export(run, "hf-backbone", tmp_path / "backbone")
    assert (out / "model.safetensors").is_file() and (out / "warmstart_head.safetensors").is_file()


def test_native_pooling_needs_a_known_architecture():
    from warmstart.config.sections.tasks import ClassificationTask
    from warmstart.models.mlp import MLPBackbone
    from warmstart.tasks import build_task

    with pytest.raises(ConfigError, match="task.pooling=native: no native classification head .* mlp"):
        build_task(ClassificationTask(pooling="native"), MLPBackbone.tiny(), {"labels": ["a", "b"]})


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_token_classification_exports_as_native_token_classifier(arch):
    """A token-classification head (dropout + linear per position) is bert's and gpt2's own: the
    exported AutoModelForTokenClassification gives the module's logits at every real position."""
    from warmstart.config.sections.tasks import TokenClassificationTask
    from warmstart.models.transformer import TransformerBackbone
    from warmstart.tasks import build_task
    from warmstart.workflows.export import hf_task_model

    cfg = TokenClassificationTask(dropout=0.0)
    labels = ["O", "B-PER", "I-PER"]
    module = build_task(cfg, TransformerBackbone.tiny(arch), {"labels": labels, "scheme": "iob2"}).eval()
    model = hf_task_model(module.backbone, module, cfg)
    batch = module.backbone.example_batch(3)
    with torch.no_grad():
        ours, theirs = module.logits(batch), model(**batch).logits
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(theirs[real], ours[real], rtol=0, atol=1e-5)
    assert model.config.id2label == dict(enumerate(labels)) and type(model).__name__.endswith("ForTokenClassification")

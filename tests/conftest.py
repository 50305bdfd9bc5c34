"""Shared fixtures: deterministic seeds, 2 CPU threads, tiny configs."""

import pytest
import torch

torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` are skipped on machines without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _fixed_batch_losses(module, batch, steps: int = 10, lr: float = 3e-3) -> list[float]:
    """Train `module` on one batch for `steps` AdamW steps, reseeding before each forward so masks,
    noise and views are the same every step; returns the losses (a contract: they must fall)."""
    opt = torch.optim.AdamW(module.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)
        out = module(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return losses


@pytest.fixture
def fixed_batch_losses():
    """The loss-falls-on-a-fixed-batch loop shared by the objective and task contract tests."""
    return _fixed_batch_losses


@pytest.fixture(scope="session")
def tiny_text_csv(tmp_path_factory):
    """A labeled CSV of 120 short synthetic texts (pos/neg by keyword) for tiny fine-tune runs."""
    import csv
    import random

    words = {"pos": ["great", "love", "good", "happy"], "neg": ["bad", "hate", "awful", "sad"]}
    filler = ["the", "movie", "was", "really", "a", "day", "this", "so", "very", "it"]
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("tiny_text") / "labeled.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(120):
            lab = rng.choice(["pos", "neg"])
            ws = rng.choices(filler, k=rng.randint(3, 7)) + rng.choices(words[lab], k=2)
            rng.shuffle(ws)
            w.writerow([" ".join(ws), lab])
    return path


@pytest.fixture(scope="session")  # a stateless factory: module-scoped fixtures can build runs with it
def tiny_finetune_config():
    """A factory of FinetuneConfigs for tiny text runs (see _tiny_finetune_config)."""
    return _tiny_finetune_config


def _tiny_finetune_config(csv_path, out_dir, **sections):
    """A FinetuneConfig for a 1-layer, 32-wide BERT trained from scratch on `csv_path`."""
    from warmstart.config.schema import FinetuneConfig

    raw = {
        "run": {"name": "ft", "out_dir": str(out_dir)},
        "data": {"kind": "labeled_text", "path": str(csv_path), "max_len": 16},
        "tokenizer": {"kind": "wordpiece", "vocab_size": 120},
        "model": {"kind": "transformer", "arch": "bert", "size": "tiny", "n_layers": 1, "d_model": 32, "n_heads": 2},
        "train": {"max_steps": 6, "batch_size": 8, "eval_every": 3, "progress": False},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) and key in ("train", "run") else value
    return FinetuneConfig.model_validate(raw)


@pytest.fixture(scope="session")
def tiny_hf_dir():
    """A factory: make_dir(folder, texts) writes a tiny HF-format BERT (1 layer, 32 wide, random weights)
    with a WordPiece tokenizer trained on `texts` into `folder` (config.json, model.safetensors,
    tokenizer files), the shape of a public checkpoint such as MiniLM. Returns the folder."""

    def make_dir(folder, texts):
        from transformers import BertConfig, BertModel

        from warmstart.config.schema import WordPieceTokenizer
        from warmstart.tokenizers import build_tokenizer

        torch.manual_seed(0)
        tok = build_tokenizer(WordPieceTokenizer(vocab_size=120), list(texts))
        bert = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id))
        bert.save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        return folder

    return make_dir

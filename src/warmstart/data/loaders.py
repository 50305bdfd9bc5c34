"""Batches for the loop: an endless, resumable, seeded iterator over an indexable dataset, plus the
collate functions that turn examples into Batch tensors.

Resuming restores (epoch, cursor) and recomputes that epoch's permutation from the seed, so no
skipped data is read again and the order is bit-identical to an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import torch

from warmstart.types import Batch

if TYPE_CHECKING:
    from warmstart.config.schema import Optim, TrainSection


class BatchIterator:
    """Yields batches forever; `state_dict()` is the data cursor saved in checkpoints."""

    def __init__(self, n: int, make_batch: Callable[[list[int]], Batch], batch_size: int, seed: int,
                 shuffle: bool = True):
        if n <= 0:
            raise ValueError("cannot iterate over an empty dataset")
        self.n, self.make_batch, self.seed, self.shuffle = n, make_batch, seed, shuffle
        # A batch larger than the data means full-batch training: every step sees all n examples.
        self.batch_size = min(batch_size, n)
        self.epoch, self.cursor = 0, 0
        self._perm: list[int] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size

    def _permutation(self) -> list[int]:
        if self._perm is None:
            if self.shuffle:
                # One generator per epoch, seeded by (seed, epoch): epochs are independent and reproducible.
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
                self._perm = torch.randperm(self.n, generator=g).tolist()
            else:
                self._perm = list(range(self.n))
        return self._perm

    def __iter__(self) -> "BatchIterator":
        return self

    def __next__(self) -> Batch:
        # Drop the ragged tail of each epoch so every step has the same number of examples.
        if self.cursor + self.batch_size > self.n:
            self.epoch, self.cursor, self._perm = self.epoch + 1, 0, None
        idx = self._permutation()[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return self.make_batch(idx)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor, self._perm = int(state["epoch"]), int(state["cursor"]), None

    def examples_per_step(self, grad_accum: int) -> int:
        return self.batch_size * grad_accum

    @property
    def next_epoch(self) -> int:
        """The epoch the next batch belongs to (`epoch` rolls over only when that batch is drawn)."""
        return self.epoch + int(self.cursor + self.batch_size > self.n)


class FullBatchIterator:
    """Full-batch gradient descent: each optimizer step is the whole training set, yielded as
    `n_micro` in-order micro-batches (sizes differ by at most one). The loop's exact
    accumulation turns them into the gradient of the mean loss over all n examples."""

    def __init__(self, n: int, make_batch: Callable[[list[int]], Batch], micro_batch_size: int):
        if n <= 0:
            raise ValueError("cannot iterate over an empty dataset")
        self.n, self.make_batch = n, make_batch
        self.n_micro = -(-n // micro_batch_size)  # ceil
        self.bounds = [round(i * n / self.n_micro) for i in range(self.n_micro + 1)]
        self.batch_size = max(b - a for a, b in pairwise(self.bounds))
        self.steps_per_epoch = 1
        self.epoch, self.cursor = 0, 0

    def __iter__(self) -> "FullBatchIterator":
        return self

    def __next__(self) -> Batch:
        if self.cursor == self.n_micro:  # the previous step finished a pass: a new epoch
            self.epoch, self.cursor = self.epoch + 1, 0
        idx = list(range(self.bounds[self.cursor], self.bounds[self.cursor + 1]))
        self.cursor += 1
        return self.make_batch(idx)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])

    def examples_per_step(self, grad_accum: int) -> int:
        return self.n

    @property
    def next_epoch(self) -> int:
        return self.epoch + int(self.cursor == self.n_micro)


def train_batches(n: int, make_batch: Callable[[list[int]], Batch], train_cfg: TrainSection, optim_cfg: Optim,
                  seed: int):
    """The training iterator and the train config the loop should use: minibatches for every
    optimizer except `gd`, whose step is the whole training set (grad_accum = micro-batches per pass)."""
    if optim_cfg.kind == "gd":
        batches = FullBatchIterator(n, make_batch, train_cfg.batch_size)
        return batches, train_cfg.model_copy(update={"grad_accum": batches.n_micro})
    return BatchIterator(n, make_batch, train_cfg.batch_size, seed), train_cfg


def sequential_batches(n: int, make_batch: Callable[[list[int]], Batch], batch_size: int,
                       max_batches: int | None = None,
                       shard: Callable[[list[int]], list[int]] | None = None) -> Iterator[Batch]:
    """One pass in order (evaluation). `shard` (data parallel) keeps this rank's slice of each
    batch's indices; a rank whose slice of a short final batch is empty skips it."""
    for b, start in enumerate(range(0, n, batch_size)):
        if max_batches is not None and b >= max_batches:
            return
        idx = list(range(start, min(start + batch_size, n)))
        if shard is not None:
            idx = shard(idx)
            if not idx:
                continue
        yield make_batch(idx)


def pad_collate(seqs: Sequence[Sequence[int]], pad_id: int, labels: torch.Tensor | None = None) -> Batch:
    """Right-pad token id lists to the longest in the batch: (B, T) ids and 0/1 attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    batch: Batch = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        batch["labels"] = labels
    return batch


def text_examples(encoded: list[list[int]], targets: torch.Tensor | None, pad_id: int) -> Callable[[list[int]], Batch]:
    """make_batch for fine-tuning: pick examples by index, pad, attach their targets."""

    def make(idx: list[int]) -> Batch:
        return pad_collate([encoded[i] for i in idx], pad_id, targets[idx] if targets is not None else None)

    return make


def block_examples(blocks) -> Callable[[list[int]], Batch]:
    """make_batch for packed pretraining blocks: equal lengths, so no padding at all."""

    def make(idx: list[int]) -> Batch:
        ids = torch.stack([torch.as_tensor(blocks[i], dtype=torch.long) for i in idx])  # (B, T)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return make


def tagged_examples(encoded: list[list[int]], rows: dict[str, list[list[int]]], pad_id: int,
                    extra: dict[str, list] | None = None) -> Callable[[list[int]], Batch]:
    """make_batch for token classification: pad ids as pad_collate does, and pad each per-position
    row (labels, word_labels: -100; word_index: -1) to the same width. `extra` entries (per-example
    Python values, e.g. the words of a predict input) are passed through as lists."""
    fill = {"labels": -100, "word_labels": -100, "word_index": -1}

    def make(idx: list[int]) -> Batch:
        batch = pad_collate([encoded[i] for i in idx], pad_id)
        width = batch["input_ids"].size(1)
        for key, values in rows.items():
            out = torch.full((len(idx), width), fill[key], dtype=torch.long)
            for r, i in enumerate(idx):
                out[r, : len(values[i])] = torch.as_tensor(values[i], dtype=torch.long)
            batch[key] = out
        for key, values in (extra or {}).items():
            batch[key] = [values[i] for i in idx]
        return batch

    return make


def qa_examples(windows: list[list], records: list[dict], pad_id: int) -> Callable[[list[int]], Batch]:
    """make_batch for extractive QA: an example is a question, and its batch rows are all of its
    windows (tokenizers.qa.Window), so a batch of B questions has at least B rows. Adds the
    segment ids (padded with 0), the windows' start/end targets, and as Python lists the windows,
    the question row of each window and the questions' records (for decoding and scoring)."""

    def make(idx: list[int]) -> Batch:
        rows = [(q, w) for q, i in enumerate(idx) for w in windows[i]]
        batch = pad_collate([w.ids for _, w in rows], pad_id)
        types = torch.zeros_like(batch["input_ids"])
        for r, (_, w) in enumerate(rows):
            types[r, : len(w.type_ids)] = torch.as_tensor(w.type_ids, dtype=torch.long)
        batch["token_type_ids"] = types
        batch["start_positions"] = torch.tensor([w.start for _, w in rows], dtype=torch.long)
        batch["end_positions"] = torch.tensor([w.end for _, w in rows], dtype=torch.long)
        batch["windows"] = [w for _, w in rows]
        batch["window_question"] = [q for q, _ in rows]
        batch["questions"] = [records[i] for i in idx]
        return batch

    return make


def seq2seq_examples(sources: list[list[int]], targets: list[list[int]] | None, pad_id: int,
                     extra: dict[str, list] | None = None, detokenize=None) -> Callable[[list[int]], Batch]:
    """make_batch for text-to-text: padded source ids, target ids padded with -100 as `labels` (when
    there are targets), `extra` per-example Python values (the reference texts) as lists, and
    `detokenize` (generated ids -> texts) passed through."""

    def make(idx: list[int]) -> Batch:
        batch = pad_collate([sources[i] for i in idx], pad_id)
        if targets is not None:
            width = max(len(targets[i]) for i in idx)
            labels = torch.full((len(idx), width), -100, dtype=torch.long)
            for r, i in enumerate(idx):
                labels[r, : len(targets[i])] = torch.as_tensor(targets[i], dtype=torch.long)
            batch["labels"] = labels
        for key, values in (extra or {}).items():
            batch[key] = [values[i] for i in idx]
        if detokenize is not None:
            batch["detokenize"] = detokenize
        return batch

    return make


def sft_examples(encoded: list, prompts: list[list[int]], references: list[str] | None, pad_id: int,
                 train_on_prompt: bool, chat, extra: dict | None = None) -> Callable[[list[int]], Batch]:
    """make_batch for instruction tuning. `encoded`: tokenizers.chat.Encoded per example (prompt +
    completion ids, None for prompt-only predict inputs); `prompts`: the prompt ids generation starts
    from; `references`: the completions to score generations against (None when predicting).

    `labels` (B, T) holds each position's own token where it counts for the loss and -100 elsewhere
    (padding, and the prompt unless train_on_prompt). The mask comes from positions, never from token
    ids, so the completion's EOS counts even where pad == eos. `prompts` and `references` ride along
    as lists; `extra` entries (per-example Python values) too; `chat` (the tokenizers.chat.ChatEncoder
    that made the ids: generation stops at its EOS and decodes with it) as it is."""

    def make(idx: list[int]) -> Batch:
        if encoded[idx[0]] is None:  # predict: prompts only, nothing to score
            batch = pad_collate([prompts[i] for i in idx], pad_id)
        else:
            batch = pad_collate([encoded[i].ids for i in idx], pad_id)
            labels = torch.full_like(batch["input_ids"], -100)
            for r, i in enumerate(idx):
                e = encoded[i]
                start = 1 if train_on_prompt else e.n_prompt  # position 0 has nothing before it to predict it
                labels[r, start: len(e.ids)] = torch.as_tensor(e.ids[start:], dtype=torch.long)
            batch["labels"] = labels
        batch["prompts"] = [prompts[i] for i in idx]
        batch["chat"] = chat
        if references is not None:
            batch["references"] = [references[i] for i in idx]
        for key, values in (extra or {}).items():
            batch[key] = [values[i] for i in idx]
        return batch

    return make


def pair_examples(pairs, mode: str, cls_id: int, sep_id: int) -> Callable[[list[int]], Batch]:
    """make_batch for next-sentence (mode "next") or sentence-order ("sentence_order") pretraining:
    [CLS] A [SEP] B [SEP] for each anchor of `pairs` (data.pairs.SegmentPairs), segment ids 0 up to
    the first [SEP] and 1 after it, and nsp_labels (B,): 0 = B is A's true next segment, 1 = B is a
    random segment of another document (next) or A and B are swapped (sentence_order).

    Half of the pairs (BERT's and ALBERT's rate) get label 1, by a draw per pair from torch's global
    RNG, as the MLM masks are: the loop saves that RNG in checkpoints (a resumed run draws the same
    pairs) and evaluation seeds it fixed in a fork (every evaluation scores the same pairs). So an
    anchor makes a fresh pair each epoch.
    """

    def make(idx: list[int]) -> Batch:
        # float64: j = u * n_other (data.pairs) stays uniform over corpora of any size.
        u = torch.rand(len(idx), 2, dtype=torch.float64)
        flip = u[:, 0] < 0.5
        rows, labels = [], []
        for n, i in enumerate(idx):
            a, b, label = pairs.pair(i, mode, bool(flip[n]), float(u[n, 1]))
            rows.append(torch.cat([torch.tensor([cls_id]), torch.from_numpy(a), torch.tensor([sep_id]),
                                   torch.from_numpy(b), torch.tensor([sep_id])]))
            labels.append(label)
        ids = torch.stack(rows)  # (B, 2 * seg_len + 3): every pair has the same length, so no padding
        types = torch.zeros_like(ids)
        types[:, pairs.seg_len + 2 :] = 1  # B and its [SEP]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": types,
                "nsp_labels": torch.tensor(labels, dtype=torch.long)}

    return make

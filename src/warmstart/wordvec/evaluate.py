"""Intrinsic evaluation of word vectors: (vectors, vocab) in, benchmark scores out.

- Word similarity: Spearman's rho between the cosine similarity of each word pair and the human
  score, on WordSim353 and SimLex-999. Pairs with a word missing from the vocabulary are skipped
  and counted as `oov`.
- Analogies ("a is to b as c is to ?", Mikolov et al.'s questions-words): 3CosAdd, i.e. the word
  whose unit vector has the largest cosine with b - a + c (unit vectors), excluding a, b and c
  themselves, as gensim's `evaluate_word_analogies`. Like word2vec's compute-accuracy and gensim's
  `restrict_vocab`, candidates are only the `restrict_vocab` most frequent words, and questions
  with a word outside them are skipped (counted as `oov`). Accuracy is over the answered questions.

The benchmark files are the ones gensim ships in gensim/test/test_data. Matching is
case-insensitive: benchmark words are lowercased and each vocabulary word is looked up lowercased,
its most frequent casing winning. `vocab` must be sorted by descending frequency.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from warmstart.errors import DataError

BENCHMARK_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "analogy": "questions-words.txt"}
# questions-words.txt sections whose names start with "gram" test syntax; the other five test semantics.
_SYNTACTIC_PREFIX = "gram"


def benchmark_path(name: str) -> Path:
    """Path of one of gensim's bundled benchmark files (e.g. 'wordsim353.tsv')."""
    path = Path(str(importlib.resources.files("gensim") / "test" / "test_data" / name))
    if not path.is_file():
        raise DataError(f"{path}: benchmark file missing from the installed gensim")
    return path


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """(word1, word2, human score) rows of a tab-separated file; lines starting with # are comments."""
    path = Path(path)
    pairs = []
    for n, line in enumerate(_read_lines(path), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"{path}: line {n}: expected 'word1<TAB>word2<TAB>score'") from None
    return pairs


def read_analogies(path: str | Path) -> list[tuple[str, str, str, str, str]]:
    """(section, a, b, c, d) rows of a questions-words file (': section' lines start sections)."""
    path = Path(path)
    section, rows = "", []
    for n, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        words = line.lower().split()
        if len(words) != 4:
            raise DataError(f"{path}: line {n}: expected 4 words, got {len(words)}")
        rows.append((section, *words))
    return rows


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not valid UTF-8 text") from None


# ------------------------------------------------------------------------------------ scoring


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero) as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def lookup_index(vocab: list[str]) -> dict[str, int]:
    """Lowercased word -> row; rows come in frequency order, so the most frequent casing wins."""
    index: dict[str, int] = {}
    for i, w in enumerate(vocab):
        index.setdefault(w.lower(), i)
    return index


def evaluate_similarity(unit: np.ndarray, index: dict[str, int], pairs: list[tuple[str, str, float]]) -> dict:
    """Spearman's rho of cosine similarity vs human scores over the in-vocabulary pairs."""
    from scipy.stats import spearmanr

    kept = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    out = {"spearman": None, "n_pairs": len(kept), "oov": len(pairs) - len(kept)}
    if len(kept) >= 2:
        ia, ib, gold = (np.array(col) for col in zip(*kept, strict=True))
        cosine = (unit[ia] * unit[ib]).sum(1)  # (n,) rows are unit length
        rho = spearmanr(cosine, gold).statistic
        out["spearman"] = None if np.isnan(rho) else float(rho)  # nan when one side is constant
    return out


def evaluate_analogies(unit: np.ndarray, index: dict[str, int], questions: list[tuple[str, str, str, str, str]],
                       restrict_vocab: int = 30000, batch_size: int = 512) -> dict:
    """3CosAdd accuracy among the `restrict_vocab` most frequent words, with semantic/syntactic splits."""
    cand = unit[:restrict_vocab]  # (N, D) candidate answers: the most frequent words
    n_cand = len(cand)
    rows, sections = [], []
    for section, *words in questions:
        ids = [index.get(w, n_cand) for w in words]
        if max(ids) < n_cand:  # all four words among the candidates, else the question is skipped
            rows.append(ids)
            sections.append(section)
    q = np.array(rows, dtype=np.int64).reshape(-1, 4)  # (n, 4) ids of a, b, c, d
    correct = np.zeros(len(q), dtype=bool)
    for s in range(0, len(q), batch_size):
        a, b, c, d = q[s:s + batch_size].T
        target = cand[b] - cand[a] + cand[c]  # (B, D) 3CosAdd query; its norm does not change the argmax
        scores = target @ cand.T  # (B, N) cosine up to a positive per-row factor
        batch = np.arange(len(a))
        scores[batch, a] = scores[batch, b] = scores[batch, c] = -np.inf  # never answer a question word
        correct[s:s + batch_size] = scores.argmax(1) == d
    syntactic = np.array([sec.startswith(_SYNTACTIC_PREFIX) for sec in sections], dtype=bool)

    def acc(mask):
        n = int(mask.sum())
        return {"accuracy": float(correct[mask].mean()) if n else None, "n": n}

    everything = np.ones(len(q), dtype=bool)
    return {**acc(everything), "oov": len(questions) - len(q), "restrict_vocab": n_cand,
            "semantic": acc(~syntactic), "syntactic": acc(syntactic)}


def evaluate_vectors(vectors: np.ndarray, vocab: list[str], restrict_vocab: int = 30000,
                     paths: Mapping[str, str | Path] | None = None) -> dict:
    """Scores on WordSim353, SimLex-999 (similarity) and questions-words (analogies).

    Args:
        vectors: (V, D) word vectors, rows in frequency order.
        vocab: the V words, most frequent first.
        restrict_vocab: analogy candidates are the this-many most frequent words.
        paths: benchmark name ('wordsim353', 'simlex999', 'analogy') -> file, replacing gensim's
            bundled file; a name mapped to None is skipped.

    Returns {"wordsim353": {"spearman", "n_pairs", "oov"}, "simlex999": {...},
    "analogy": {"accuracy", "n", "oov", "restrict_vocab", "semantic", "syntactic"}}.
    """
    if len(vectors) != len(vocab):
        raise DataError(f"vectors: {len(vectors)} rows but the vocabulary has {len(vocab)} words")
    files = {name: benchmark_path(fname) for name, fname in BENCHMARK_FILES.items()}
    files.update(paths or {})
    unit, index = unit_rows(vectors), lookup_index(vocab)
    out = {}
    for name in ("wordsim353", "simlex999"):
        if files.get(name) is not None:
            out[name] = evaluate_similarity(unit, index, read_word_pairs(files[name]))
    if files.get("analogy") is not None:
        out["analogy"] = evaluate_analogies(unit, index, read_analogies(files["analogy"]), restrict_vocab)
    return out


# -------------------------------------------------------------------------------------- table


def _score(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _cell(value: float | None, n: int, oov: int) -> str:
    return f"{_score(value)} ({n}/{oov})"


def format_eval_table(results: Mapping[str, dict]) -> str:
    """A plain-text table, one row per named evaluate_vectors result: score (evaluated/oov)."""
    header = ["vectors", "WordSim353 rho", "SimLex-999 rho", "analogy acc", "semantic", "syntactic"]
    lines = []
    for name, r in results.items():
        ws, sl, an = r.get("wordsim353", {}), r.get("simlex999", {}), r.get("analogy", {})
        row = [name,
               _cell(ws.get("spearman"), ws.get("n_pairs", 0), ws.get("oov", 0)) if ws else "-",
               _cell(sl.get("spearman"), sl.get("n_pairs", 0), sl.get("oov", 0)) if sl else "-",
               _cell(an.get("accuracy"), an.get("n", 0), an.get("oov", 0)) if an else "-",
               _score(an["semantic"]["accuracy"]) if an else "-",
               _score(an["syntactic"]["accuracy"]) if an else "-"]
        lines.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    fmt = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    note = "score (evaluated/out-of-vocabulary); analogy = 3CosAdd accuracy over answerable questions"
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, lines), note])

"""Word vectors on disk: our safetensors + vocab.txt pair, and the word2vec text/binary formats.
(File formats only: this module imports nothing of warmstart's above data/.)

- `vectors.safetensors` holds one float32 tensor "vectors" (V, D); `vocab.txt` next to it lists the
  V words, one per line, most frequent first (row i is the vector of line i).
- word2vec text: a "V D" header line, then "word x1 ... xD" per line (GloVe's headerless files are
  read too). word2vec binary: the same header, then per word its UTF-8 bytes, a space, D
  little-endian float32 values and a newline, as the original word2vec C tool writes it.

Every write goes to a temporary file that replaces the target only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from warmstart.errors import DataError

VECTORS_FILE, VOCAB_FILE = "vectors.safetensors", "vocab.txt"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_words(words: list[str], vectors: np.ndarray, where: Path) -> None:
    if vectors.ndim != 2 or len(vectors) != len(words):
        raise DataError(f"{where}: vectors of shape {vectors.shape} do not match {len(words)} words")
    for w in words:
        if not w or w != w.strip() or any(ch.isspace() for ch in w):
            raise DataError(f"{where}: word {w!r} is empty or contains whitespace; it cannot be written one per line")


def save_vectors(out_dir: str | Path, vectors: np.ndarray, words: list[str]) -> None:
    """Write out_dir/vectors.safetensors ("vectors", (V, D) float32) and out_dir/vocab.txt."""
    from safetensors.numpy import save

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    _check_words(words, vectors, out_dir)
    _atomic_write(out_dir / VECTORS_FILE, save({"vectors": vectors}))
    _atomic_write(out_dir / VOCAB_FILE, "".join(w + "\n" for w in words).encode("utf-8"))


def load_vectors(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """(vectors (V, D) float32, words) from a run directory (or its vectors.safetensors file),
    or from a word2vec file: .bin is binary, anything else (.txt, .vec) text."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".safetensors":
        folder = path if path.is_dir() else path.parent
        return _load_safetensors(folder / VECTORS_FILE, folder / VOCAB_FILE)
    return load_word2vec_format(path)


def _load_safetensors(vec_path: Path, vocab_path: Path) -> tuple[np.ndarray, list[str]]:
    from safetensors.numpy import load_file

    for p in (vec_path, vocab_path):
        if not p.is_file():
            raise DataError(f"{p}: no such file (expected a word-vector run with {VECTORS_FILE} and {VOCAB_FILE})")
    try:
        vectors = load_file(str(vec_path))["vectors"]
    except KeyError:
        raise DataError(f"{vec_path}: no tensor named 'vectors'") from None
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise DataError(f"{vec_path}: not a readable safetensors file ({type(e).__name__})") from None
    words = vocab_path.read_text(encoding="utf-8").splitlines()
    if len(words) != len(vectors):
        raise DataError(f"{vocab_path}: {len(words)} words but {vec_path.name} has {len(vectors)} rows")
    return vectors.astype(np.float32, copy=False), words


# --------------------------------------------------------------------------------- word2vec format


def save_word2vec_format(path: str | Path, vectors: np.ndarray, words: list[str], binary: bool = False) -> None:
    """Write the word2vec text or binary format (readable by gensim's load_word2vec_format)."""
    path = Path(path)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    _check_words(words, vectors, path)
    parts = [f"{len(words)} {vectors.shape[1]}\n".encode()]
    if binary:
        rows = vectors.astype("<f4")
        for w, row in zip(words, rows, strict=True):
            parts.append(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
    else:
        # %.9g round-trips float32 exactly (9 significant digits suffice for 24-bit mantissas).
        for w, row in zip(words, vectors.tolist(), strict=True):
            parts.append((w + " " + " ".join(f"{x:.9g}" for x in row) + "\n").encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, b"".join(parts))


def load_word2vec_format(path: str | Path, binary: bool | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a word2vec text or binary file (binary when the name ends in .bin, unless told)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    binary = path.suffix == ".bin" if binary is None else binary
    data = path.read_bytes()
    return _read_binary(path, data) if binary else _read_text(path, data)


def _read_binary(path: Path, data: bytes) -> tuple[np.ndarray, list[str]]:
    end = data.find(b"\n")
    try:
        n, dim = (int(x) for x in data[:end].split())
    except ValueError:
        raise DataError(f"{path}: line 1: expected the header 'vocab_size vector_size'") from None
    words, vectors, pos, width = [], np.empty((n, dim), dtype=np.float32), end + 1, 4 * dim
    for i in range(n):
        while pos < len(data) and data[pos:pos + 1] in (b"\n", b" "):
            pos += 1  # the newline the C tool writes after each vector (gensim writes none)
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise DataError(f"{path}: truncated at word {i + 1} of {n}")
        words.append(data[pos:space].decode("utf-8", errors="replace"))
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    return vectors, words


def _read_text(path: Path, data: bytes) -> tuple[np.ndarray, list[str]]:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text (pass binary=True for a binary word2vec file)") from None
    head = lines[0].split() if lines else []
    has_header = len(head) == 2 and all(x.isdigit() for x in head)
    body = [ln for ln in lines[1 if has_header else 0:] if ln.strip()]
    if not body:
        raise DataError(f"{path}: no vectors")
    dim = int(head[1]) if has_header else len(body[0].split()) - 1
    words, vectors = [], np.empty((len(body), dim), dtype=np.float32)
    for i, line in enumerate(body):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise DataError(f"{path}: line {i + 1 + has_header}: expected a word and {dim} numbers, "
                            f"got {len(parts) - 1}")
        words.append(parts[0])
        try:
            vectors[i] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise DataError(f"{path}: line {i + 1 + has_header}: not a number") from None
    if has_header and len(words) != int(head[0]):
        raise DataError(f"{path}: header says {head[0]} words, found {len(words)}")
    return vectors, words

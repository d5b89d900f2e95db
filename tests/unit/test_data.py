"""The corpus finder, the tokenizer and the shared batch sampler. Only the last test reads the real corpus."""
import hashlib
import io
import os

import numpy as np
import pytest

from learngpt import data
from learngpt.data import BatchSampler, CharTokenizer, Corpus, CorpusNotFoundError, find_corpus

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_explicit_path_wins_over_the_environment(isolated, monkeypatch):
    a, b = isolated / "a.txt", isolated / "b.txt"
    a.write_text("a"), b.write_text("b")
    monkeypatch.setenv(data.ENV_VAR, str(b))
    assert find_corpus(a) == a
    assert find_corpus() == b


def test_environment_may_name_a_folder(isolated, monkeypatch):
    (isolated / data.CORPUS_NAME).write_text("x")
    monkeypatch.setenv(data.ENV_VAR, str(isolated))
    assert find_corpus() == isolated / data.CORPUS_NAME


def test_missing_explicit_file_is_a_clear_error(isolated):
    with pytest.raises(CorpusNotFoundError, match=r"corpus not found at .*nope.txt \(from --data\)"):
        find_corpus(isolated / "nope.txt")


def fake_urlopen(payload: bytes):
    def urlopen(url, timeout):
        return io.BytesIO(payload)
    return urlopen


def test_download_is_verified_and_atomic(isolated, monkeypatch):
    payload = b"the canonical corpus"
    monkeypatch.setattr(data, "CORPUS_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen(payload))
    path = find_corpus()
    assert path == data.cache_dir() / data.CORPUS_NAME and path.read_bytes() == payload
    assert find_corpus() == path  # now found in the cache
    assert [p.name for p in path.parent.iterdir()] == [data.CORPUS_NAME]


def test_a_download_with_the_wrong_checksum_leaves_nothing(isolated, monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen(b"tampered"))
    with pytest.raises(CorpusNotFoundError, match="sha256"):
        find_corpus()
    assert not any(data.cache_dir().iterdir())


def test_offline_and_missing_says_how_to_point_at_a_file(isolated, monkeypatch):
    def offline(url, timeout):
        raise data.urllib.error.URLError("no network")
    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(CorpusNotFoundError, match=r"--data PATH or the LEARNGPT_DATA environment variable"):
        find_corpus()
    with pytest.raises(CorpusNotFoundError, match="corpus not found"):
        find_corpus(download=False)


def test_tokenizer_round_trips_and_names_unknown_characters():
    tok = CharTokenizer.from_text(TEXT)
    assert tok.decode(tok.encode("hear me")) == "hear me"
    assert tok.chars == "".join(sorted(set(TEXT)))
    with pytest.raises(ValueError, match=r"characters '#Z' are not in the vocabulary"):
        tok.encode("Z#")
    with pytest.raises(ValueError, match=r"token ids must be in \[0, "):
        tok.decode([tok.vocab_size])


def test_sampler_is_deterministic_and_shared():
    corpus = Corpus.from_text(TEXT)
    a, b = BatchSampler(corpus, 4, 8, seed=3), BatchSampler(corpus, 4, 8, seed=3)
    xa, ya = a.sample()
    xb, yb = b.sample()
    assert xa.shape == ya.shape == (4, 8) and xa.dtype == np.int64
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert np.array_equal(xa[:, 1:], ya[:, :-1])  # y is x shifted by one
    many_x, many_y = a.sample_many(5)
    singles = [b.sample() for _ in range(5)]
    assert many_x.shape == (5, 4, 8)
    assert all(np.array_equal(many_x[i], singles[i][0]) for i in range(5))
    e1, e2 = a.eval_batches("val", 3, seed=9), b.eval_batches("val", 3, seed=9)
    assert np.array_equal(e1[0], e2[0])


def test_the_real_corpus(corpus):
    assert len(corpus.text) == 1115394 and corpus.tokenizer.vocab_size == 65
    assert len(corpus.train) == int(0.9 * len(corpus.text))
    path = find_corpus()
    assert data.sha256_of(path) == data.CORPUS_SHA256 or os.environ.get(data.ENV_VAR)

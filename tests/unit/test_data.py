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
    monkeypatch.setattr(data, "beside_checkout", lambda: tmp_path / "shared" / "data" / data.CORPUS_NAME)
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


def test_a_variable_naming_no_file_falls_back_to_the_cache_then_the_copy_beside_the_checkout(
        isolated, monkeypatch, capsys):
    """$LEARNGPT_DATA is used only where it names a file: a stale value (another clone's path) is a note on
    stderr, and the corpus is then found as if the variable were unset. --data stays strict."""
    payload = b"the canonical corpus"
    monkeypatch.setattr(data, "CORPUS_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: (_ for _ in ()).throw(AssertionError))
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "elsewhere" / data.CORPUS_NAME))
    beside = data.beside_checkout()
    beside.parent.mkdir(parents=True)
    beside.write_bytes(payload)
    assert find_corpus() == beside
    assert "holds no corpus" in capsys.readouterr().err
    cached = data.cache_dir() / data.CORPUS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(payload)
    assert find_corpus() == cached  # the cache before the copy beside the checkout
    with pytest.raises(CorpusNotFoundError, match=r"\(from --data\)"):
        find_corpus(isolated / "elsewhere" / data.CORPUS_NAME)


def test_a_copy_beside_the_checkout_with_the_wrong_checksum_is_passed_over_and_kept(isolated, monkeypatch):
    beside = data.beside_checkout()
    beside.parent.mkdir(parents=True)
    beside.write_text("not shakespeare")
    with pytest.raises(CorpusNotFoundError, match="nothing in"):
        find_corpus(download=False)
    assert beside.read_text() == "not shakespeare"  # not ours to delete


def test_this_checkout_finds_the_shared_copy_where_the_project_machines_keep_it():
    """The README's commands type no path: beside this repository's checkout lies shared/data/."""
    assert data.beside_checkout().parent.parent.name == "shared"
    if data.beside_checkout().is_file():
        assert data.sha256_of(data.beside_checkout()) == data.CORPUS_SHA256


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

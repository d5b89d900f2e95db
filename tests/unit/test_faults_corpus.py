"""The corpus: a file that is not UTF-8 text, an empty one or a fifo is named for what it is in one line; a cache
folder that cannot be made is one line; a damaged cached copy is named when it is removed."""
import os

import pytest

from learngpt import data
from helpers import QUICK, a_file, one_line


def test_a_corpus_that_is_not_text_is_named(capsys, tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"abc\xff\xfe\x00")
    one_line(capsys, ["train", "--backend", "torch", "--data", str(binary), "--out", str(tmp_path / "o")] + QUICK,
             str(binary), "is not UTF-8 text (byte 0xff at offset 3)")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    one_line(capsys, ["train", "--backend", "torch", "--data", str(empty), "--out", str(tmp_path / "o")] + QUICK,
             f"{empty} is empty")


def test_a_fifo_as_the_corpus_is_named_for_what_it_is(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line(capsys, ["train", "--backend", "torch", "--data", str(fifo), "--out", str(tmp_path / "o")] + QUICK,
             "is not a regular file")


def test_a_cache_folder_that_cannot_be_made_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(a_file(tmp_path)))
    monkeypatch.setattr(data, "beside_checkout", lambda: tmp_path / "no-shared" / data.CORPUS_NAME)
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: (_ for _ in ()).throw(AssertionError))
    one_line(capsys, ["train", "--backend", "torch", "--out", str(tmp_path / "o")] + QUICK,
             "the cache folder", "cannot be made")


def test_a_damaged_cache_file_is_named_when_removed(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data, "beside_checkout", lambda: tmp_path / "no-shared" / data.CORPUS_NAME)
    cached = data.cache_dir() / data.CORPUS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_text("not shakespeare")

    def offline(url, timeout):
        raise data.urllib.error.URLError("offline")
    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(data.CorpusNotFoundError):
        data.find_corpus()
    err = capsys.readouterr().err
    assert f"removed {cached}: its sha256" in err and not cached.exists()

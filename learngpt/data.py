"""The corpus (tiny-shakespeare), the character tokenizer and the batch sampler both backends share."""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from learngpt.errors import InputError, LearngptError

CORPUS_NAME = "tinyshakespeare.txt"
CORPUS_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
ENV_VAR = "LEARNGPT_DATA"


class CorpusNotFoundError(LearngptError, FileNotFoundError):
    """The corpus is neither where we were told nor cached, and could not be downloaded."""


def cache_dir() -> Path:
    """The user cache directory: $XDG_CACHE_HOME/learngpt, else ~/.cache/learngpt."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "learngpt"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve(path: str | os.PathLike, origin: str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / CORPUS_NAME
    if p.exists() and not p.is_file():
        raise CorpusNotFoundError(f"{p} (from {origin}) is not a regular file (a FIFO, a device or a socket); "
                                  f"expected the tiny-shakespeare text file")
    if not p.is_file():
        raise CorpusNotFoundError(f"corpus not found at {p} (from {origin}); expected the tiny-shakespeare text file")
    return p


def download_corpus(dest: Path, url: str = CORPUS_URL, timeout: float = 30.0) -> Path:
    """Download the canonical file into dest atomically (temporary file, sha256 check, rename)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CorpusNotFoundError(f"corpus not found locally, and the cache folder {dest.parent} cannot be made "
                                  f"({err.strerror or err}); point at a copy with --data PATH or the {ENV_VAR} "
                                  f"environment variable") from None
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                out.write(chunk)
        got = sha256_of(Path(tmp))
        if got != CORPUS_SHA256:
            raise CorpusNotFoundError(f"downloaded corpus from {url} has sha256 {got}, expected {CORPUS_SHA256}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as err:
        raise CorpusNotFoundError(
            f"corpus not found locally and the download from {url} failed ({err}); "
            f"point at a copy with --data PATH or the {ENV_VAR} environment variable") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def beside_checkout() -> Path:
    """Where this project's machines keep a copy: shared/data/ beside the folder that holds the package."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / CORPUS_NAME


def _checked_copy(path: Path) -> Path | None:
    """path if it is a file with the corpus's sha256; a damaged cache entry is removed, and the user is told."""
    if not path.is_file():
        return None
    found = sha256_of(path)
    if found == CORPUS_SHA256:
        return path
    if path.parent == cache_dir():  # fetched again rather than trusted
        path.unlink()
        print(f"learngpt: removed {path}: its sha256 {found[:12]}... is not the corpus's "
              f"({CORPUS_SHA256[:12]}...)", file=sys.stderr)
    return None


def find_corpus(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Where the corpus is: an explicit path (which must exist), then $LEARNGPT_DATA where it names a file,
    then the user cache, then a copy beside the checkout, else a download into the cache. The cache, the copy
    and the download are checked against the corpus's sha256; the two paths a user gives are taken as given."""
    if path is not None:
        return _resolve(path, "--data")
    named = os.environ.get(ENV_VAR)
    if named:
        candidate = Path(named).expanduser()
        if candidate.exists() and not (candidate.is_dir() and not (candidate / CORPUS_NAME).exists()):
            return _resolve(named, f"${ENV_VAR}")
        print(f"learngpt: ${ENV_VAR} names {candidate}, which holds no corpus; looking in the cache, "
              f"then beside the checkout, then downloading", file=sys.stderr)
    cached = cache_dir() / CORPUS_NAME
    for copy in (cached, beside_checkout()):
        if _checked_copy(copy):
            return copy
    if not download:
        raise CorpusNotFoundError(
            f"corpus not found: no --data PATH, no ${ENV_VAR}, nothing in {cache_dir()} or at "
            f"{beside_checkout()}; point at a copy of tiny-shakespeare with --data PATH or {ENV_VAR}=PATH")
    return download_corpus(cached)


class CharTokenizer:
    """Character-level tokenizer: the sorted distinct characters of a text are the vocabulary."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise InputError("the vocabulary has repeated characters")
        self.chars = "".join(sorted(chars))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise InputError(f"characters {''.join(unknown)!r} are not in the vocabulary of {self.vocab_size} characters")
        return np.fromiter((self.stoi[ch] for ch in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError(f"token ids must be in [0, {self.vocab_size}), got range [{ids.min()}, {ids.max()}]")
        return "".join(self.chars[i] for i in ids.tolist())


@dataclass(frozen=True)
class Corpus:
    """The encoded text and its train/validation split."""

    text: str
    tokenizer: CharTokenizer
    train: np.ndarray
    val: np.ndarray

    @classmethod
    def from_text(cls, text: str, train_fraction: float = 0.9) -> "Corpus":
        tokenizer = CharTokenizer.from_text(text)
        data = tokenizer.encode(text)
        n = int(train_fraction * len(data))
        return cls(text, tokenizer, data[:n], data[n:])

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 of the vocabulary and both splits: what a cached result computed on this corpus depends on."""
        digest = hashlib.sha256(self.tokenizer.chars.encode())
        for part in (self.train, self.val):
            digest.update(np.ascontiguousarray(part).tobytes())
            digest.update(b"|")
        return digest.hexdigest()

    @functools.cached_property
    def unigram_entropy(self) -> float:
        """Nats per character of the training split's character frequencies: the loss of a model that knows
        only how common each character is (a model that learned nothing about context stays above it)."""
        p = np.bincount(self.train, minlength=self.tokenizer.vocab_size) / len(self.train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    @functools.cached_property
    def bigram_log_probs(self) -> np.ndarray:
        """(V, V): log P(next | current) counted on the training split, add-one smoothed."""
        V = self.tokenizer.vocab_size
        counts = np.ones((V, V)) + np.bincount(self.train[:-1] * V + self.train[1:], minlength=V * V).reshape(V, V)
        return np.log(counts / counts.sum(axis=1, keepdims=True))

    def bigram_log_likelihood(self, ids) -> float:
        """Mean log-probability per character of a sequence of ids under the corpus's bigram statistics."""
        ids = np.asarray(ids).reshape(-1)
        return float(self.bigram_log_probs[ids[:-1], ids[1:]].mean())

    def split(self, name: str) -> np.ndarray:
        if name not in ("train", "val"):
            raise InputError(f"split must be 'train' or 'val', got {name!r}")
        return self.train if name == "train" else self.val


def load_corpus(path: str | os.PathLike | None = None, train_fraction: float = 0.9) -> Corpus:
    found = find_corpus(path)
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{found} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
                         f"expected the tiny-shakespeare text file") from None
    except OSError as err:
        raise InputError(f"{found} cannot be read ({err.strerror or err})") from None
    if not text:
        raise InputError(f"{found} is empty; expected the tiny-shakespeare text file")
    return Corpus.from_text(text, train_fraction)


def check_block(corpus: Corpus, block_size: int) -> None:
    """Each split holds more than block_size tokens (a window and its next token): InputError if not."""
    for name in ("train", "val"):
        if len(corpus.split(name)) <= block_size:
            raise InputError(f"the {name} split has {len(corpus.split(name))} tokens; "
                             f"expected more than block_size {block_size}")


class BatchSampler:
    """The seed's get_batch on a numpy Generator: the same seed gives both backends the same batches."""

    def __init__(self, corpus: Corpus, batch_size: int, block_size: int, seed: int):
        check_block(corpus, block_size)
        self.corpus, self.batch_size, self.block_size = corpus, batch_size, block_size
        self.rng = np.random.default_rng(seed)

    def _gather(self, data: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offsets = starts[:, None] + np.arange(self.block_size)[None, :]  # (B, T)
        return data[offsets], data[offsets + 1]  # (B, T), (B, T)

    def sample(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """One batch (x, y), each (B, T) int64, y = x shifted by one."""
        data = self.corpus.split(split)
        starts = self.rng.integers(0, len(data) - self.block_size, size=self.batch_size)
        return self._gather(data, starts)

    def sample_many(self, n: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """n consecutive batches stacked, (n, B, T) each: the same stream as n calls of sample."""
        xs, ys = zip(*(self.sample(split) for _ in range(n)))
        return np.stack(xs), np.stack(ys)

    def eval_batches(self, split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A fixed set of n evaluation batches, (n, B, T): the same for every evaluation and backend."""
        data = self.corpus.split(split)
        rng = np.random.default_rng(seed)
        xs, ys = zip(*(self._gather(data, rng.integers(0, len(data) - self.block_size, size=self.batch_size))
                       for _ in range(n)))
        return np.stack(xs), np.stack(ys)

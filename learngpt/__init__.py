"""learngpt: the framework-free core shared by the torch and Flax backends (numpy only)."""
from learngpt.config import Config
from learngpt.data import BatchSampler, CharTokenizer, Corpus, find_corpus, load_corpus

__all__ = ["Config", "BatchSampler", "CharTokenizer", "Corpus", "find_corpus", "load_corpus"]

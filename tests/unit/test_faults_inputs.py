"""A model's bad input is an InputError naming the module and what it expected, the same type and message on every
backend: token ids of a float or narrow dtype, integer activations, a width that does not match, sizes that are
not positive, a negative number of tokens to generate."""
import numpy as np
import pytest

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt.errors import InputError


def gpt(backend):
    return backend.create(NANOGPT.recipe(Config(n_layers=1)), example=np.zeros((1, 8), np.int64))


@pytest.mark.parametrize("dtype", ["float32", "uint8", "bool", "int16"])
def test_token_ids_of_the_wrong_dtype(backend, dtype):
    with pytest.raises(InputError, match=rf"^token ids must be integers of dtype int32 or int64, got {dtype}"):
        backend.forward(gpt(backend), np.zeros((1, 8), dtype))


def test_integer_activations(backend):
    model = backend.create(lambda lib: lib.MultiHeadVer2(8, 16, 4), example=np.zeros((1, 8, 16), np.float32))
    with pytest.raises(InputError, match="^MultiHeadVer2 expects floating-point input, got int64"):
        backend.forward(model, np.zeros((1, 8, 16), np.int64))


@pytest.mark.parametrize("name", ["FeedForward", "LayerNorm"])
def test_a_width_mismatch(backend, name):
    model = backend.create(lambda lib: getattr(lib, name)(16), example=np.zeros((1, 8, 16), np.float32))
    with pytest.raises(InputError, match=rf"^{name} expects 16 features, got 12 \(shape \(1, 8, 12\)\)"):
        backend.forward(model, np.zeros((1, 8, 12), np.float32))


@pytest.mark.parametrize("args,message", [
    (("MultiHeadVer2", 0, 16, 4), "MultiHeadVer2: block_size must be a positive integer, got 0"),
    (("MultiHeadVer1", 8, -16, 4), "MultiHeadVer1: embed_size must be a positive integer, got -16"),
    (("HeadVer4", 8, 16, 0), "HeadVer4: head_size must be a positive integer, got 0"),
    (("HeadVer1", 0, 16), "HeadVer1: block_size must be a positive integer, got 0"),
])
def test_sizes_that_are_not_positive(backend, args, message):
    with pytest.raises(InputError, match=rf"^{message}"):
        getattr(backend.lib, args[0])(*args[1:])


def test_generate_refuses_a_negative_token_count(backend):
    model = gpt(backend)
    for call in (backend.generate, backend.complete):
        with pytest.raises(InputError, match="max_new_tokens must be a whole number >= 0, got -1"):
            call(model, np.zeros((1, 3), np.int64), -1)

"""The backend fixture (ids torch and flax), narrowed by --backend or $LEARNGPT_BACKEND, and the corpus."""
import os

import pytest

from parity import backends


def pytest_configure(config):
    # The models here are tiny (16-wide matmuls): a second torch thread buys nothing and, on a busy
    # machine, costs up to 10x (measured: 26 vs 3 steps/s for NanoGPT training under load).
    import torch
    config.torch_default_threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("LEARNGPT_TORCH_THREADS", "1")))


def pytest_addoption(parser):
    parser.addoption("--backend", action="store", default=None,
                     help="run the two-backend tests on one backend only: torch or flax "
                          f"(default: ${backends.ENV_VAR}, else both)")


def pytest_generate_tests(metafunc):
    if "backend_name" in metafunc.fixturenames:
        names = backends.selected(metafunc.config.getoption("--backend"))
        metafunc.parametrize("backend_name", names, ids=list(names))


@pytest.fixture
def backend(backend_name):
    """A backends.Backend: the test body sees numpy arrays and this adapter, never an if on the framework."""
    return backends.get(backend_name)


@pytest.fixture(scope="session")
def corpus():
    """tiny-shakespeare, found as the learngpt command finds it; in CI a missing corpus fails, never skips."""
    from learngpt.data import load_corpus
    return load_corpus()


@pytest.fixture
def default_threads(request):
    """torch's own thread count for the test (the speed questions compare kernels as a user's machine runs them)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(request.config.torch_default_threads)
    yield
    torch.set_num_threads(before)

"""The backend fixture (ids torch, flax and nnx, narrowed by --backend or $LEARNGPT_BACKEND), the corpus, and
`answer`: the curriculum question a test is named after, asked of the test's backend."""
import pytest

from learngpt_lab import backends, questions
from learngpt_lab.threads import set_threads


def pytest_configure(config):
    # The models here are tiny (16-wide matmuls): a second torch thread buys nothing and, on a busy machine,
    # makes torch's threads wait on each other. XLA keeps its own choice.
    set_threads(1, xla=False)


def pytest_addoption(parser):
    parser.addoption("--backend", action="store", default=None,
                     help="run the backend tests on some backends only: torch, flax, nnx (commas between) "
                          f"(default: ${backends.ENV_VAR}, else all)")


def pytest_generate_tests(metafunc):
    if "backend_name" in metafunc.fixturenames:
        names = backends.selected(metafunc.config.getoption("--backend"))
        metafunc.parametrize("backend_name", names, ids=list(names))


# Test files whose training questions share cached runs (learngpt_lab/questions/training.py): under
# pytest-xdist (--dist loadgroup) one worker asks them all, per backend, so each run is trained once.
SHARED_RUNS = {"test_1": "week1", "test_2": "week1", "test_5": "week1", "test_6": "week1",
               "test_8": "deep", "test_9": "deep"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's hook reads the xdist_group marks added here
def pytest_collection_modifyitems(config, items):
    """A test that asks a training question carries the `training` marker (pytest -m "not training": the fast
    suite), one that compares speeds the `timing` marker (run in a pass of its own, never beside other work);
    training questions sharing runs go to one xdist worker per backend."""
    registry = questions.load()
    for item in items:
        q = registry.get(getattr(item, "originalname", None))
        if q is None:
            continue
        if q.trains:
            item.add_marker(pytest.mark.training)
            if q.file in SHARED_RUNS:
                backend = item.callspec.params.get("backend_name", "") if hasattr(item, "callspec") else ""
                item.add_marker(pytest.mark.xdist_group(f"{SHARED_RUNS[q.file]}-{backend}"))
        if q.times:
            item.add_marker(pytest.mark.timing)


@pytest.fixture
def backend(backend_name):
    """A learngpt_lab.backends.Backend (its adapter's operations: learngpt_lab/backends/protocol.py): the test body
    sees numpy arrays, never an if on the framework."""
    return backends.get(backend_name)


@pytest.fixture(scope="session")
def corpus():
    """tiny-shakespeare, found as the learngpt command finds it; in CI a missing corpus fails, never skips."""
    from learngpt.data import load_corpus
    return load_corpus()


@pytest.fixture
def answer(request, backend):
    """The question named like the test (learngpt_lab/questions), asked of this backend; its numbers printed."""
    q = questions.load()[request.node.originalname]
    corpus = request.getfixturevalue("corpus") if q.trains else None
    result = questions.ask(q.id, backend, corpus)
    print(result)
    return result

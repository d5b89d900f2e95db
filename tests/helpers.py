"""What several test files share, imported as `helpers` (tests/ is on the path: its conftest.py is there): the
one-line-error check, and what the fault tests (unit/test_faults_*.py) build their cases from."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from learngpt.components import NANOGPT
from learngpt.config import Config
from learngpt_lab import backends
from learngpt_lab.checkpoints import digest
from learngpt_lab.cli import main
from parity.weights import write_weights


def one_line(capsys, argv, *expected, status=2, command=main):
    """Run the command in-process (the learngpt command, or another command's main(argv)): the exit status
    (argparse's own refusals too), and one stderr line, with no traceback, holding every expected text. Returns
    the line."""
    try:
        got = command(argv)
    except SystemExit as exit:  # argparse's own refusals
        got = exit.code
    err = capsys.readouterr().err.strip()
    assert got == status, f"{argv}: status {got}, stderr {err!r}"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    return err


# The fault tests' runs: the shortest a command allows (QUICK), and that on the smallest model (TINY).
QUICK = ["--iters", "1", "--eval-iters", "1", "--eval-interval", "1", "--no-progress"]
TINY = QUICK + ["--n-layers", "1", "--embed-size", "16", "--n-heads", "4", "--block-size", "8", "--batch-size", "4"]
VOCAB = "\n !,.:;?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TINY_CONFIG = Config(vocab_size=len(VOCAB), n_layers=1, n_heads=4, embed_size=16, block_size=8)


def a_file(tmp_path):
    f = tmp_path / "plain"
    f.write_text("not a folder")
    return f


def launch(args, **kw):
    """The command as a real process (its signals, its children), stdout and stderr piped as text."""
    return subprocess.Popen([sys.executable, "-m", "learngpt_lab.cli"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def tiny_checkpoint(path: Path, scale: float = 1.0, **meta_changes) -> Path:
    """A tiny torch-initialised checkpoint, its weights times scale and its metadata changed, the digest
    recomputed: what a crafted file looks like."""
    b = backends.get("torch")
    weights = {k: v * np.float32(scale)
               for k, v in b.get_weights(b.create(NANOGPT.recipe(TINY_CONFIG), seed=0)).items()}
    meta = {"format": "learngpt-checkpoint", "version": "2", "config": json.dumps(TINY_CONFIG.to_dict()),
            "architecture": json.dumps(NANOGPT.to_dict()), "vocab": VOCAB, "backend": "torch", "step": "3",
            **meta_changes}
    return write_weights(path, weights, {**meta, "sha256": digest(weights, meta)})


def nested(depth: int) -> str:
    """JSON nested depth levels deep: a bomb for a reader that recurses."""
    return "[" * depth + "]" * depth

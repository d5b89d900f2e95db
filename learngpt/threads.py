"""CPU threads for both frameworks, set in one place (train, compare, questions and bench all take --threads)."""
from __future__ import annotations

import os
import sys


def limit_threads(n: int | None) -> None:
    """Give each framework n CPU threads: torch's intra-op pool and XLA's (JAX only if it is not imported yet:
    XLA reads its flags once, when its CPU backend starts). None leaves both frameworks' own choice."""
    if n is None:
        return
    if n <= 0:
        raise ValueError(f"--threads must be positive, got {n}")
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=" +
                                   ("true" if n > 1 else "false") + f" intra_op_parallelism_threads={n}").strip()
    import torch
    torch.set_num_threads(n)

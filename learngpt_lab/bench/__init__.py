"""What jit buys, measured side by side: torch eager, torch.compile, jax.jit and JAX without jit.

Every measurement times one call (a forward pass, or a whole training step: forward, backward, AdamW)
of one component at one size, in one of four implementations:

    torch          eager PyTorch, the reference
    torch.compile  the same module through torch.compile (inductor), in the trainer's own step; AdamW stays
                   eager (foreach)
    jax.jit        the Flax twin, the whole call (step: grad + AdamW, the trainer's own step) compiled by XLA
    jax            the same Python function without jit: every primitive dispatched on its own

The first call is timed apart (it compiles); then `warmup` calls; then `repeats` timed repeats of
`calls` calls each, the device synchronised at the end of each (torch.cuda.synchronize,
jax.block_until_ready), so that asynchronous dispatch is never mistaken for speed. We report the
median time per call over the repeats, its quartiles and extremes, and the speed-up against torch
eager measured in the same run (torch eager time / this time: above 1 is faster).

The training loop itself is measured through the trainers: the torch loop, the Flax loop with one
jitted step per Python call, and the Flax loop fused with lax.scan (steps/s, compile apart).

The package by job: plan.py (what to measure), runners.py (how each implementation runs one call, and
the timing), run.py (the run), report.py (table, plot, JSON).
"""

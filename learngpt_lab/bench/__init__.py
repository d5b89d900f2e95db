"""What jit buys, measured side by side: torch eager, torch.compile, jax.jit and JAX without jit (Flax linen),
nnx.jit and NNX without jit (Flax NNX).

Every measurement times one call (a forward pass, or a whole training step: forward, backward, AdamW)
of one component at one size, in one of six implementations:

    torch          eager PyTorch, the reference
    torch.compile  the same module through torch.compile (inductor), in the trainer's own step; AdamW stays
                   eager (foreach)
    jax.jit        the Flax linen twin, the whole call (step: grad + AdamW, the fast trainer's own step) compiled
                   by XLA
    jax            the same Python function without jit: every primitive dispatched on its own
    nnx.jit        the Flax NNX twin in NNX's idiom: the module and its nnx.Optimizer passed to nnx.jit and
                   changed in place (step: learngpt_nnx.trainer.step traced under learngpt_nnx.fast.fast_layers,
                   the maths of the NNX fast trainer's step and of linen's), built by the NNX backend's adapter
    nnx            the same Python function without nnx.jit

All implementations of one call at one size are measured together: each is built and its first call timed
apart (it compiles); then `warmup` calls; then `repeats` rounds in which every implementation runs one repeat
of `calls` calls, in a rotating order, the device synchronised after each call (torch.cuda.synchronize,
jax.block_until_ready), so that asynchronous dispatch is never mistaken for speed. We report the median time
per call over the rounds, its quartiles and extremes, and the speed-up against torch eager as the median of
the per-round ratios (torch eager's repeat over this one's in the same round: above 1 is faster). A figure
whose spread or load makes it untrustworthy is measured again, then flagged (learngpt_lab/stats.py).

The training loop itself is measured through the trainers (runners.LOOP_TRAINERS), each model built by its
backend's adapter: the torch loop and the torch.compile loop; for linen and for NNX each, the loop with one
jitted step per Python call and the loop fused with lax.scan (both through the package's fast.train), and the
lesson's trainer fused (linen: plain jax.jit; NNX: nnx.jit) (steps/s, compile apart), in segments that take
turns, paired the same way.

The package by job: plan.py (what to measure), runners.py (how each implementation runs one call, and
the timing), run.py (the run), report.py (table, plot, JSON); learngpt_lab/stats.py (paired ratios, spreads,
flags, retries) below it, shared with the questions; tools/gpu.sh and tools/gpu_check.py (the GPU run) and
experiments/flax_loop_attempts.py (what was tried for the Flax loop) outside the package.
"""

"""learngpt_jax: the JAX code both Flax APIs share, below the lessons (learngpt_flax, learngpt_nnx).

Nothing here is linen or NNX: the AdamW transformation (optim), the pieces that make a step fast on CPU and
the compiled-program cache (fast), the mesh and its layouts (parallel), the compiled training loop the fast
and parallel trainers run (training). It imports the framework-free core (learngpt), jax and optax only.
"""

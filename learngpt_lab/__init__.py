"""learngpt_lab: the top floor. Backends by name, the curriculum's questions, the bench, the runs (train,
compare, generate) and the `learngpt` command, built on learngpt (the core), both backends and parity."""

"""learngpt_lab: the top floor. The backend adapter, the curriculum's questions, the bench, the runs (train,
compare, generate) and the `learngpt` command, built on learngpt (the core), both backends and parity."""

"""learngpt_lab: the top floor, the only one that names backends. Backends by name (one adapter each:
backends/), checkpoints, the parity table, the lesson views, the curriculum's questions, the bench, the runs
(train, compare, generate) and the `learngpt` command, built on learngpt (the core), the lesson packages and
parity."""

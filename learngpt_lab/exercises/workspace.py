"""The learner's workspace: one folder (default ./learngpt-exercises/), a file per exercise and framework
(FRAMEWORK/FILE.py, the solution file's name), and progress.json: each exercise's last status and hints given.
Starting an exercise never overwrites a file that is there."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from learngpt.errors import UserError
from learngpt_lab.exercises.catalog import Exercise
from learngpt_lab.exercises.generate import file_name

DEFAULT = Path("learngpt-exercises")
PROGRESS = "progress.json"


class Workspace:
    def __init__(self, root: str | os.PathLike = DEFAULT):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"workspace {self.root} is a file; expected a folder (--workspace DIR)")

    def path(self, exercise: Exercise, framework: str) -> Path:
        return self.root / framework / file_name(exercise)

    def progress(self) -> dict:
        file = self.root / PROGRESS
        if not file.is_file():
            return {}
        try:
            found = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserError(f"{file} is not readable progress ({err}); move it away to start a fresh one") from None
        return found.get("exercises", {}) if isinstance(found, dict) else {}

    def record(self, exercise: Exercise, framework: str, **values) -> None:
        progress = self.progress()
        entry = progress.setdefault(f"{exercise.name}/{framework}", {})
        entry.update(values, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (PROGRESS + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "exercises": progress}, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        tmp.replace(self.root / PROGRESS)  # never a half-written file

    def entry(self, exercise: Exercise, framework: str) -> dict:
        return self.progress().get(f"{exercise.name}/{framework}", {})

    def status(self, exercise: Exercise, framework: str) -> str:
        if not self.path(exercise, framework).is_file():
            return "-"
        return self.entry(exercise, framework).get("status", "started")

    def start(self, exercise: Exercise, framework: str, text: str) -> tuple[Path, bool]:
        """(the file, whether it was written now): an existing file is kept as it is."""
        path = self.path(exercise, framework)
        if path.exists():
            return path, False
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": never over a file that appeared meanwhile
            f.write(text)
        if not self.entry(exercise, framework):
            self.record(exercise, framework, status="started")
        return path, True

"""What several test files share, imported as `helpers` (tests/ is on the path: its conftest.py is there)."""
from learngpt_lab.cli import main


def one_line(capsys, argv, *expected, status=2):
    """Run the command in-process: the exit status (argparse's own refusals too), and one stderr line, with no
    traceback, holding every expected text. Returns the line."""
    try:
        got = main(argv)
    except SystemExit as exit:  # argparse's own refusals
        got = exit.code
    err = capsys.readouterr().err.strip()
    assert got == status, f"{argv}: status {got}, stderr {err!r}"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    return err

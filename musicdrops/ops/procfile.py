"""The Procfile, read once for everyone who starts its processes: make run, the benchmarks, the tests."""

from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """Process type -> command line, as the platform reads them (``name: command``; blank lines and # skipped)."""
    processes: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes

"""Print the lowest versions of the tested range (`name==lower` for each bounded core dependency in pyproject.toml),
for `make test-lowest`."""

import re
import tomllib
from pathlib import Path

RANGED = ("torch", "transformers", "tokenizers", "datasets", "scikit-learn")


def lowest_pins(pyproject: Path = Path(__file__).resolve().parent.parent / "pyproject.toml") -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for name in RANGED:
        spec = next(d for d in dependencies if re.match(rf"{name}\s*[=<>]", d))
        lower = re.search(r"(?:==|>=)\s*([\w.]+)", spec).group(1)
        pins.append(f"{name}=={lower}")
    return pins


if __name__ == "__main__":
    print(" ".join(lowest_pins()))

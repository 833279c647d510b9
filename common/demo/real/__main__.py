"""python -m common.demo.real [--out data/real] [--force] [--limit N]: build the real-speech set."""
from __future__ import annotations

import argparse
import sys

from .build import build


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.demo.real", description=__doc__)
    parser.add_argument("--out", default="data/real", help="output folder (default data/real)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the folder is up to date")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts (quick check)")
    args = parser.parse_args(argv)
    try:
        build(args.out, limit=args.limit, force=args.force)
    except (FileNotFoundError, ImportError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

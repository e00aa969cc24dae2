"""`python -m vcse_pipeline.demo OUT_DIR [--scale N] [--seed N]`: write the demo dataset."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .generate import DEFAULT_SEED, generate_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcse_pipeline.demo",
                                     description="Write the synthetic Wirral demo registers and ground truth.")
    parser.add_argument("out_dir", type=Path, help="folder to write the demo files into")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of organisations (default 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    manifest = generate_demo(args.out_dir, seed=args.seed, scale=args.scale)
    manifest["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

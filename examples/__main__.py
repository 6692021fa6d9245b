"""python -m examples NAME --state healthy|broken --url DATABASE_URL: write an example's sample data."""

from __future__ import annotations

import argparse
import asyncio

from examples import NAMES, get


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples", description=__doc__)
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--state", default="broken", help="healthy | broken (marketplace also: demo)")
    parser.add_argument("--url", required=True, help="database URL, e.g. sqlite+aiosqlite:///shop.db")
    args = parser.parse_args()
    example = get(args.name)
    asyncio.run(example.module.seed(args.url, args.state))
    print(f"{args.name}: {args.state} sample data written to {args.url}")
    print(f"config: {example.config}")
    for key, value in example.module.env(args.url).items():
        print(f"export {key}={value}")


if __name__ == "__main__":
    main()

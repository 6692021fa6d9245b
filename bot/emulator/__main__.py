"""`python -m bot.emulator [--port N]`: the same as `opsbot emulator`."""

from __future__ import annotations

import argparse
import sys

from bot.emulator.standalone import DEFAULT_PORT, run_emulator

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bot.emulator", description="The local Telegram Bot API emulator.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    sys.exit(run_emulator(parser.parse_args().port))

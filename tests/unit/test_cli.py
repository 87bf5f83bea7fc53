from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.cli import CliError, format_frame, main, parse_overrides
from tasks.store import ArtifactStore


def test_parse_overrides_reads_json_values() -> None:
    assert parse_overrides(["train.epochs=5", "series.region=HB", "extract.threshold_pct=12.5"]) == {
        "train.epochs": 5,
        "series.region": "HB",
        "extract.threshold_pct": 12.5,
    }
    with pytest.raises(CliError, match="key=value"):
        parse_overrides(["train.epochs"])


def _report() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(["2022-05-16", "2022-05-17"]).astype("datetime64[us]"),
            "region": ["CN", "CN"],
            "actual": [162, 227],
            "predicted": [159.29, 147.17],
            "deviation_pct": [1.67, 35.17],
            "is_hotspot": [False, True],
            "note": ["", ""],
        }
    )


def test_formats() -> None:
    frame = _report()
    assert format_frame(frame, "csv").splitlines()[1] == "2022-05-16,CN,162,159.29,1.67,False,"
    assert '"date":"2022-05-17T00:00:00"' in format_frame(frame, "json").replace(" ", "")
    table = format_frame(frame, "table").splitlines()
    assert table[0].split() == ["date", "region", "actual", "predicted", "deviation_pct", "is_hotspot"]
    assert table[2].split() == ["2022-05-17", "CN", "227", "147.2", "35.2", "True"]


def test_report_prints_hotspots_by_default_and_all_on_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = ArtifactStore(tmp_path)
    path = store.write_table("report", date(2026, 1, 1), "report", _report()).path
    store.publish_latest({"report.parquet": Path(path)})
    assert main(["report", "--store", str(tmp_path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 2
    assert main(["report", "--store", str(tmp_path), "--all", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 3


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--store", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"hotspot: error: no report in {tmp_path} yet; run `hotspot run` first\n"
    assert main(["run", "--store", str(tmp_path), "--set", "train.epoch=3"]) == 1
    assert capsys.readouterr().err == "hotspot: error: bad --set: unknown config key 'train.epoch'\n"
    assert main(["run", "--input", str(tmp_path / "missing.csv")]) == 1
    assert "input file not found" in capsys.readouterr().err


def test_bad_command_line_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--format", "xml"])
    assert exc.value.code == 2

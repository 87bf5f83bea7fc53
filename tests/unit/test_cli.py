import json
import shlex
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import CliError, main, parse_overrides
from flows.cli_render import explain_hint, format_frame, neutralise_formulas
from tasks.config import PipelineConfig
from tasks.detectors.schema import detector_config
from tasks.extract import apply_verdicts, detect_all, extract_hotspots
from tasks.report.table import build_report
from tasks.store import ArtifactStore
from tasks.text import terminal_safe


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
    ref = store.write_table("report", date(2026, 1, 1), "report", _report())
    store.publish_latest({"report.parquet": store.resolve(ref)}, date(2026, 1, 1))
    assert main(["report", "--store", str(tmp_path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 2
    assert main(["report", "--store", str(tmp_path), "--all", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 3


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--store", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"hotspot: error: no report in {tmp_path} yet; run `hotspot run` first\n"
    assert main(["run", "--store", str(tmp_path), "--set", "train.epoch=3"]) == 1
    assert capsys.readouterr().err == (
        "hotspot: error: bad --set: unknown config key 'train.epoch' (did you mean train.epochs?)\n"
    )
    assert main(["run", "--input", str(tmp_path / "missing.csv")]) == 1
    assert "input file not found" in capsys.readouterr().err


def test_bad_command_line_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--format", "xml"])
    assert exc.value.code == 2


RUN_DAY = date(2026, 1, 2)


def _stored_report(tmp_path: Path) -> ArtifactStore:
    """A real report and detections table (study rule + every detector) for 40 days, stored as `run` would."""
    days = 40
    dates = pd.date_range("2022-05-14", periods=days, freq="D", unit="us")
    level = 200 + 20 * np.sin(np.arange(days) / 5.0)
    actual = np.round(level)
    actual[35] = 400  # a one-day surge the driver does not explain
    predicted = np.where(np.arange(days) < 2, np.nan, level)  # as the LSTM: no prediction without 2 days of history
    target = pd.DataFrame({"date": dates, "region": "CN", "role": "target", "actual": actual, "predicted": predicted})
    predictions = pd.concat([target, target.assign(role="driver", actual=np.round(3 * level))])
    study, _ = extract_hotspots(predictions, 10.0, 2)
    detections = detect_all(predictions, detector_config(PipelineConfig().detect, 10.0))
    forecasts = pd.DataFrame(
        {"date": dates, "region": "CN", "driver_effect": np.where(np.arange(days) == 35, 2.5, 0.0),
         "forecast_on": "driver", "forecast_note": ""}
    )  # fmt: skip
    report = build_report(apply_verdicts(study, detections, "lstm_ewma", forecasts), pd.DataFrame(
        {"region": [], "date": [], "column": []}), None, "confirmed", "m1")  # fmt: skip
    store = ArtifactStore(tmp_path)
    refs = {
        "report": store.write_table("report", RUN_DAY, "report", report).to_dict(),
        "detections": store.write_table("report", RUN_DAY, "detections", detections).to_dict(),
    }
    store.write_manifest("report", RUN_DAY, {"outputs": refs})
    store.publish_latest({f"{name}.parquet": store.resolve(ref) for name, ref in refs.items()}, date(2026, 1, 1))
    return store


def test_explain_says_why_a_day_is_a_hotspot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = _stored_report(tmp_path)
    assert main(["explain", "2022-06-18", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2022-06-18 (CN): HOTSPOT (alarm, surge) by lstm_ewma\n")
    assert "On 2022-06-18 there were 400 cases against an expected" in out
    assert "the change is specific to the target series" in out  # the driver did not move
    assert "lstm_ewma" in out and "ears_c3" in out and "The study's rule: LSTM prediction" in out
    assert "The forecaster saw the day's driver: it raised the expected count by 2.5 case(s)" in out
    assert main(["explain", "2022-06-18", "--store", str(store.root), "--date", "2026-01-02", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["is_hotspot"] and info["decider"] == "lstm_ewma" and info["primary"] == "lstm_ewma"
    assert "lstm_ewma" in info["agreeing"] and info["study"]["study_hotspot"]
    assert info["forecaster"] | {"text": ""} == {"forecast_on": "driver", "driver_effect": 2.5,
                                                 "driver_anomaly": "none", "text": ""}  # fmt: skip
    assert main(["explain", "2022-06-01", "--store", str(store.root)]) == 0
    assert "not a hotspot by lstm_ewma" in capsys.readouterr().out.splitlines()[0]


def test_explain_fails_with_one_line_for_a_day_not_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = _stored_report(tmp_path)
    assert main(["explain", "2022-05-14", "--store", str(store.root)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "hotspot: error: 2022-05-14 is not a scored day of the report for CN (scored days: 2022-05-16..2022-06-22)\n"
    )
    assert main(["explain", "2022-06-18", "--store", str(store.root), "--region", "HB"]) == 1
    assert capsys.readouterr().err == "hotspot: error: region 'HB' is not in the report (regions: CN)\n"
    assert main(["explain", "2022-06-18", "--store", str(tmp_path / "empty")]) == 1
    assert "no report in" in capsys.readouterr().err


def test_table_prints_p_values_readably() -> None:
    frame = _report().assign(p_value=[0.00012, float("nan")])
    table = format_frame(frame, "table").splitlines()
    assert table[1].split()[-1] == "0.00012" and table[2].split()[-1] == "NaN"  # not rounded to 0.0


def test_csv_export_neutralises_spreadsheet_formulas() -> None:
    frame = _report().assign(note=["=cmd|' /C calc'!A0", "@SUM(1)"], region=["-2+3", "CN"])
    lines = format_frame(frame, "csv").splitlines()
    assert lines[1].split(",")[1] == "'-2+3" and lines[1].endswith("'=cmd|' /C calc'!A0")
    assert lines[2].endswith("'@SUM(1)")
    assert ",-1.0," not in lines[1]  # numbers are left alone
    assert neutralise_formulas(pd.DataFrame({"x": [-1.5]}))["x"].tolist() == [-1.5]


def test_expects_new_work_guesses_from_inputs_and_store(tmp_path: Path) -> None:
    from flows.cli_runtime import expects_new_work

    store = ArtifactStore(tmp_path / "store")
    assert expects_new_work(str(store.root), None, None)  # never run: the shipped data will be read
    assert expects_new_work(str(store.root), "new.csv", None) and expects_new_work(str(store.root), None, "https://x")
    store.ledger_path.parent.mkdir(parents=True)
    store.ledger_path.write_bytes(b"")
    assert not expects_new_work(str(store.root), None, None)  # a daily rerun with nothing new
    store.incoming.mkdir()
    (store.incoming / ".downloads").mkdir()
    assert not expects_new_work(str(store.root), None, None)  # hidden entries are not inputs
    (store.incoming / "day.csv").write_text("date,confirmed,asymptomatic\n")
    assert expects_new_work(str(store.root), None, None)


def test_early_server_is_not_started_when_an_api_url_is_set() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli_runtime import EarlyServer

    early = EarlyServer()
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        early.start()
    assert early._thread is None
    early.wait()  # nothing to wait for


def test_printed_commands_quote_region_names_for_the_shell() -> None:
    day = pd.Timestamp("2022-09-09")
    hostile = "X'; touch /tmp/PWNED; echo '"
    hint = explain_hint(day, hostile, name_region=True)
    assert shlex.split(hint) == ["hotspot", "explain", "2022-09-09", "--region", hostile]  # one argument, no command
    assert (
        explain_hint(day, "Inner Mongolia", name_region=True) == "hotspot explain 2022-09-09 --region 'Inner Mongolia'"
    )
    assert explain_hint(day, "Bei\x1b[31mjing", name_region=True) == "hotspot explain 2022-09-09"
    assert explain_hint(day, "CN", name_region=False) == "hotspot explain 2022-09-09"


def test_region_names_are_printed_without_terminal_control_characters() -> None:
    frame = pd.DataFrame({"date": pd.to_datetime(["2022-05-14"]), "region": ["Bei\x1b[31mjing\u202e"], "actual": [3]})
    for fmt in ("table", "csv"):
        text = format_frame(frame, fmt)
        assert "\x1b" not in text and "\u202e" not in text and "Bei\\x1b[31mjing\\u202e" in text
    assert terminal_safe("北京 Côte d'Ivoire\u3000") == "北京 Côte d'Ivoire\u3000"


def test_report_fits_120_columns_and_starts_with_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = _stored_report(tmp_path)
    long_name = _report_with_long_region(store)
    assert main(["report", "--store", str(store.root), "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"store {store.root}, run date {RUN_DAY}, daily record, model m1, config abc, flow run calm-owl"
    assert max(len(line) for line in lines[1:]) <= 120
    assert lines[1].split() == ["date", "region", "actual", "expected", "band", "p_value", "level", "agree",
                                "deviation_pct", "is_new", "revised"]  # fmt: skip
    assert long_name[:15] + "~" in "\n".join(lines)

    assert main(["report", "--store", str(store.root), "--all", "--columns", "date,region,band,p_value"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["date", "region", "band", "p_value"]
    assert main(["report", "--store", str(store.root), "--all", "--wide"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert "deviation_pct" in wide[0] and "study_hotspot" in wide[0] and not wide[0].startswith("store ")
    assert main(["report", "--store", str(store.root), "--columns", "date,nope"]) == 1
    assert "unknown column(s) nope; the report has: date," in capsys.readouterr().err


def _report_with_long_region(store: ArtifactStore) -> str:
    """Rewrite the stored report with a long region name and provenance metadata; -> the region's name."""
    from tasks.store import read_metadata

    name = "Xinjiang Production and Construction Corps"
    path = store.path("report", RUN_DAY, "report.parquet")
    report = pd.read_parquet(path).assign(region=name)
    meta = {"run_date": RUN_DAY.isoformat(), "record": "daily", "model_id": "m1", "config_hash": "abc",
            "flow_run_name": "calm-owl", "deployment": None}  # fmt: skip
    ref = store.write_table("report", RUN_DAY, "report", report, metadata=meta)
    store.publish_latest({"report.parquet": store.resolve(ref)}, RUN_DAY)
    assert read_metadata(store.latest("report.parquet"))["model_id"] == "m1"
    return name

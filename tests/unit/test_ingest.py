import functools
import http.server
import threading
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.config import IngestConfig
from tasks.ingest.merge import as_of, merge_observations
from tasks.ingest.read import (
    IngestError,
    canonicalise,
    ingest_file,
    map_headers,
    normalise_header,
    parse_counts,
    parse_dates,
)
from tasks.ingest.receive import download
from tasks.schemas import CANONICAL_COLUMNS

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "source" / "china_nhc_national_2022.csv"


def test_normalise_header() -> None:
    assert normalise_header("\ufeff New Confirmed ") == "new_confirmed"
    assert normalise_header("本土新增确诊") == "本土新增确诊"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["date", "confirmed", "asymptomatic"],
            {"date": "date", "confirmed": "confirmed", "asymptomatic": "asymptomatic"},
        ),
        (["日期", "新增确诊", "新增无症状"], {"date": "日期", "confirmed": "新增确诊", "asymptomatic": "新增无症状"}),
        (
            ["日期", "地区", "本土新增确诊", "本土新增无症状"],
            {"date": "日期", "region": "地区", "confirmed": "本土新增确诊", "asymptomatic": "本土新增无症状"},
        ),
        (
            ["日期", "省份", "新增确诊", "新增无症状"],
            {"date": "日期", "region": "省份", "confirmed": "新增确诊", "asymptomatic": "新增无症状"},
        ),
        # local counts win over totals when a file has both
        (
            ["date", "new_confirmed", "new_confirmed_local", "new_asymptomatic", "new_asymptomatic_local"],
            {"date": "date", "confirmed": "new_confirmed_local", "asymptomatic": "new_asymptomatic_local"},
        ),
        (
            ["Date ", "Confirmed", "Asymptomatic"],
            {"date": "Date ", "confirmed": "Confirmed", "asymptomatic": "Asymptomatic"},
        ),
    ],
)
def test_map_headers(headers: list[str], expected: dict[str, str]) -> None:
    assert map_headers(headers) == expected


def test_missing_column_names_what_is_accepted() -> None:
    with pytest.raises(IngestError, match=r"missing required column\(s\) confirmed; found 'date', 'cases'"):
        map_headers(["date", "cases"])
    with pytest.raises(IngestError, match=r"accepted: confirmed: confirmed, local_confirmed.*target_column"):
        map_headers(["date", "cases"])


def test_the_driver_is_optional_and_said_to_be_missing() -> None:
    notes: list[str] = []
    assert map_headers(["date", "confirmed"], notes) == {"date": "date", "confirmed": "confirmed"}
    assert notes == ["no driver column: every region is modelled on its target's own history"]
    with pytest.raises(IngestError, match=r"'asymptomtic' looks like 'asymptomatic'"):
        map_headers(["date", "confirmed", "asymptomtic"])  # a misspelt driver is no missing driver


def test_columns_can_be_named_in_the_config() -> None:
    config = IngestConfig(date_column="Week", target_column="Cases", region_column="county", driver_column="none")
    columns = ["week", "county", "cases", "asymptomatic"]
    assert map_headers(columns, None, config) == {"date": "week", "region": "county", "confirmed": "cases"}
    with pytest.raises(IngestError, match=r"ingest.target_column = 'hosp' is not a column of the file; its columns: "
                                          r"'week', 'county', 'cases', 'asymptomatic'"):  # fmt: skip
        map_headers(columns, None, IngestConfig(target_column="hosp"))


def test_parse_dates_year_first_forms_only() -> None:
    parsed = parse_dates(pd.Series(["2022-05-14", "2022/5/1", "20220502", "2022年5月3日", "14/05/2022", "", "x"]))
    assert parsed.dtype == "datetime64[us]"
    assert [d.date().isoformat() if pd.notna(d) else None for d in parsed] == [
        "2022-05-14",
        "2022-05-01",
        "2022-05-02",
        "2022-05-03",
        None,
        None,
        None,
    ]


def test_parse_counts_gaps_separators_and_errors() -> None:
    values, errors, other = parse_counts(pd.Series(["1,234", "", "7", "abc", "-3", "2.5"]))
    np.testing.assert_array_equal(values.to_numpy(), [1234.0, np.nan, 7.0, np.nan, -3.0, 2.5])
    assert errors.tolist() == ["", "", "", "not a number: abc", "", ""]
    assert other == 2  # "-3" and "2.5" are numbers, but not plain digits: the reader says so


def test_parse_counts_counts_other_notations() -> None:
    values, errors, other = parse_counts(pd.Series(["1e3", "+5", "7.0", "-0", "12", " 3 "]))
    np.testing.assert_array_equal(values.to_numpy(), [1000.0, 5.0, 7.0, 0.0, 12.0, 3.0])
    assert (errors == "").all() and other == 4


def test_canonicalise_defaults_region_and_records_source_rows() -> None:
    raw = pd.DataFrame({"日期": ["2022-05-02", "2022-05-01"], "本土新增确诊": ["3", "x"], "本土新增无症状": ["1", ""]})
    table = canonicalise(raw, IngestConfig(default_region="HB")).table
    assert list(table.columns) == CANONICAL_COLUMNS
    assert table["region"].tolist() == ["HB", "HB"]
    assert table["source_row"].tolist() == [3, 2]  # sorted by date; line numbers of the file
    assert table["ingest_error"].tolist() == ["confirmed: not a number: x", ""]
    assert np.isnan(table["asymptomatic"].iloc[0])


def test_shipped_file() -> None:
    result = ingest_file(SHIPPED, IngestConfig())
    table = result.table
    assert len(table) == 122
    assert result.header_map == {
        "date": "date",
        "confirmed": "new_confirmed_local",
        "asymptomatic": "new_asymptomatic_local",
    }
    assert table["date"].min() == pd.Timestamp("2022-05-14") and table["date"].max() == pd.Timestamp("2022-09-12")
    assert table["confirmed"].isna().sum() == 0
    missing = table.loc[table["asymptomatic"].isna(), "date"].dt.strftime("%m-%d").tolist()
    assert missing == ["07-18", "07-24", "07-31", "08-05", "08-26"]
    assert table.loc[0, ["confirmed", "asymptomatic"]].tolist() == [226.0, 1492.0]
    assert (table["ingest_error"] == "").all()


def test_parquet_and_gbk_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"date": pd.to_datetime(["2022-05-01"]), "confirmed": [5], "asymptomatic": [7]})
    frame.to_parquet(tmp_path / "in.parquet")
    table = ingest_file(tmp_path / "in.parquet", IngestConfig()).table
    assert table[["confirmed", "asymptomatic"]].iloc[0].tolist() == [5.0, 7.0]
    (tmp_path / "gbk.csv").write_bytes("日期,新增确诊,新增无症状\n2022-05-01,1,2\n".encode("gbk"))
    assert ingest_file(tmp_path / "gbk.csv", IngestConfig()).table["confirmed"].tolist() == [1.0]


def test_empty_and_header_only_files_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match=r"empty\.csv: the file is empty"):
        ingest_file(tmp_path / "empty.csv", IngestConfig())
    (tmp_path / "header.csv").write_text("date,confirmed,asymptomatic\n")
    with pytest.raises(IngestError, match="no data rows"):
        ingest_file(tmp_path / "header.csv", IngestConfig())
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(IngestError, match=r"unsupported file type \.xlsx"):
        ingest_file(tmp_path / "x.xlsx", IngestConfig())


def _day(rows: list[tuple[str, str, str]], name: str) -> pd.DataFrame:
    raw = pd.DataFrame(rows, columns=["date", "confirmed", "asymptomatic"])
    return canonicalise(raw, IngestConfig(), source_file=name).table


def test_merge_identical_rows_are_no_ops_and_changes_are_revisions() -> None:
    first = _day([("2022-01-01", "1", "5"), ("2022-01-02", "2", ""), ("2022-01-03", "3", "7")], "a.csv")
    second = _day([("2022-01-02", "2", "6"), ("2022-01-03", "30", ""), ("2022-01-04", "", "8")], "b.csv")
    table, revisions, _ = merge_observations([first, second])
    assert table["date"].dt.day.tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(table["confirmed"], [1, 2, 30, np.nan])
    np.testing.assert_array_equal(table["asymptomatic"], [5, 6, 7, 8])  # an empty cell never erases a value
    assert table["source_file"].tolist() == ["a.csv", "b.csv", "b.csv", "b.csv"]
    assert revisions[["column", "old_value", "new_value", "source_file"]].values.tolist() == [
        ["confirmed", 3.0, 30.0, "b.csv"]
    ]
    same, none, _ = merge_observations([first, first])
    pd.testing.assert_frame_equal(same, merge_observations([first])[0])
    assert none.empty


def test_merge_passes_unkeyable_and_in_file_duplicates_to_the_validator() -> None:
    messy = _day([("2022-01-01", "1", "1"), ("2022-01-01", "2", "2"), ("bad", "3", "3")], "m.csv")
    table, revisions, _ = merge_observations([messy])
    assert len(table) == 3 and revisions.empty
    assert table["ingest_error"].tolist() == ["", "", "date: unreadable 'bad'"]


def test_as_of_keeps_rows_up_to_the_run_date() -> None:
    table = _day([("2022-01-01", "1", "1"), ("2022-01-02", "2", "2"), ("2022-01-03", "3", "3")], "a.csv")
    kept, dropped = as_of(table, date(2022, 1, 2))
    assert kept["date"].dt.day.tolist() == [1, 2] and dropped == 1


def test_download_only_http_with_a_size_limit(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="only http and https"):
        download("file:///etc/passwd", tmp_path, 1000, 5)
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "day.csv").write_text("date,confirmed,asymptomatic\n2022-01-01,1,2\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/day.csv"
        got = download(url, tmp_path / "in", 1000, 5)
        assert got.read_text().startswith("date,confirmed")
        with pytest.raises(IngestError, match="larger than the 10-byte download limit"):
            download(url, tmp_path / "in", 10, 5)
    finally:
        server.shutdown()
        server.server_close()


def test_an_unforeseen_read_failure_becomes_a_one_line_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader bug nobody foresaw must reject the file with its reason (archived, named, skipped), like any
    # unreadable file, instead of failing this and every later run.
    import tasks.ingest.receive as receive

    def broken(path: Path, config: IngestConfig) -> None:
        raise RuntimeError("unexpected state\nsecond line")

    monkeypatch.setattr(receive, "ingest_file", broken)
    path = tmp_path / "odd.csv"
    path.write_text("date,confirmed\n2022-05-14,1\n")
    with pytest.raises(IngestError, match=r"^odd\.csv: could not be read \(RuntimeError: unexpected state\)$"):
        receive.read_check(path, IngestConfig())

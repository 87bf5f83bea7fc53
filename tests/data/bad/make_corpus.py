"""Writes the bad-input corpus next to this file (run it after changing a case; the files are tracked).

Each case is one small file; CASES in tests/unit/test_bad_inputs.py says what the pipeline must do
with it. The very large file (10^6 rows) is generated inside its test instead of being stored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
HEADER = "date,confirmed,asymptomatic\n"
GOOD = "2022-05-14,226,1492\n2022-05-15,140,1019\n2022-05-16,162,887\n"

TEXT_CASES: dict[str, str] = {
    "empty.csv": "",
    "header_only.csv": HEADER,
    "semicolon_delimiter.csv": HEADER.replace(",", ";") + GOOD.replace(",", ";"),
    "missing_column.csv": "date,asymptomatic\n2022-05-14,1492\n",
    "misspelled_header.csv": "date,confimed,asymptomatic\n" + GOOD,
    "non_numeric_count.csv": HEADER + GOOD + "2022-05-17,abc,1000\n",
    "negative_count.csv": HEADER + GOOD + "2022-05-17,-5,1000\n",
    "non_integer_count.csv": HEADER + GOOD + "2022-05-17,2.5,1000\n",
    "blank_and_nan.csv": HEADER + GOOD + "2022-05-17,,NaN\n2022-05-18,200,\n",
    "duplicate_equal.csv": HEADER + GOOD + "2022-05-16,162,887\n",
    "duplicate_conflict.csv": HEADER + GOOD + "2022-05-16,170,887\n",
    "out_of_order.csv": HEADER + "2022-05-16,162,887\n2022-05-14,226,1492\n2022-05-15,140,1019\n",
    "gap.csv": HEADER + GOOD + "2022-05-20,150,900\n",
    "future_date.csv": HEADER + GOOD + "2099-01-01,5,5\n",
    "unparseable_date.csv": HEADER + GOOD + "yesterday,5,5\n",
    "mixed_date_formats.csv": HEADER + "2022-05-14,226,1492\n2022/5/15,140,1019\n20220516,162,887\n16/05/2022,1,1\n",
    "outlier_1e9.csv": HEADER + GOOD + "2022-05-17,1000000000,1000\n",
    "thousands_separator.csv": 'date,confirmed,asymptomatic\n2022-05-14,226,"1,492"\n2022-05-15,140,"1,019"\n',
    "truncated_last_line.csv": HEADER + GOOD + "2022-05-17,18",
    "formula_injection.csv": HEADER + GOOD + "2022-05-17,\"=cmd|' /C calc'!A0\",1000\n",
    "formula_region.csv": "date,region,confirmed,asymptomatic\n2022-05-14,CN,1,1\n2022-05-15,=HYPERLINK(1),2,2\n",
    "tab_delimiter.csv": HEADER.replace(",", "\t") + GOOD.replace(",", "\t"),
    "not_a_table.csv": "hello\n",
    # Found by the adversarial probe of issue 11:
    "blank_region.csv": "date,region,confirmed,asymptomatic\n2022-09-11,CN,200,700\n2022-09-12,CN,188,727\n"
    "2022-09-12,,7,0\n",
    "blank_region_only.csv": "date,region,confirmed,asymptomatic\n2022-09-11,,6,2\n2022-09-12,,7,0\n",
    "duplicate_column_names.csv": "date,confirmed,asymptomatic,confirmed\n2022-05-14,226,1492,5\n",
    "duplicate_ignored_columns.csv": "date,confirmed,asymptomatic,note,note\n2022-05-14,226,1492,a,b\n"
    "2022-05-15,140,1019,,\n",
    "two_confirmed_headers.csv": "date,confirmed,new_confirmed_local,asymptomatic\n2022-05-14,226,220,1492\n",
    "line_separators_in_quotes.csv": "date,region,confirmed,asymptomatic,note\n"
    '2022-05-14,CN,226,1492,"first\u2028second"\n2022-05-15,CN,140,1019,"next\x85line"\n'
    '2022-05-16,CN,162,887,"two\nlines"\n2022-05-17,CN,abc,900,\n',
    "blank_lines.csv": HEADER + "2022-05-14,226,1492\n\n\n2022-05-15,140,1019\n2022-05-16,x,887\n",
    "ansi_region.csv": "date,region,confirmed,asymptomatic\n2022-05-14,CN,1,1\n2022-05-14,Bei\x1b[31mjing,2,2\n",
    "quote_in_region.csv": "date,region,confirmed,asymptomatic\n2022-05-14,\"X'; touch /tmp/PWNED; echo '\",1,1\n",
    # issue 14: any surveillance series
    "target_only.csv": "date,confirmed\n2022-05-14,226\n2022-05-15,140\n2022-05-16,162\n",
    "own_column_names.csv": "week,cases\n2024-01-01,12\n2024-01-08,15\n2024-01-15,9\n",
    "mapped_column_missing.csv": "date,cases\n2024-01-01,12\n",
    "target_not_a_count.csv": "date,confirmed\n2024-01-01,low\n2024-01-08,high\n",
    "mixed_daily_weekly.csv": "date,cases\n2024-01-01,12\n2024-01-08,15\n2024-01-15,9\n2024-01-24,3\n"
    "2024-01-29,8\n2024-02-05,11\n",
    "week_given_twice.csv": "date,cases\n2024-01-01,12\n2024-01-08,15\n2024-01-10,16\n2024-01-15,9\n"
    "2024-01-22,7\n2024-01-29,8\n",
    "odd_notations.csv": HEADER + "2022-05-14,1e3,1492\n2022-05-15,+5,1019\n2022-05-16,7.0,887\n2022-05-17,-0,900\n",
}


def main() -> None:
    for name, text in TEXT_CASES.items():
        (HERE / name).write_text(text, encoding="utf-8", newline="")
    (HERE / "utf8_bom.csv").write_bytes(b"\xef\xbb\xbf" + ("日期,本土新增确诊,本土新增无症状\n" + GOOD).encode("utf-8"))
    (HERE / "gbk_chinese_headers.csv").write_bytes(
        ("日期,地区,新增确诊,新增无症状\n2022-05-14,湖北,1,2\n").encode("gbk")
    )
    (HERE / "binary_garbage.csv").write_bytes(bytes(range(128, 256)) * 4)
    pd.DataFrame(
        {"date": ["2022-05-14", "2022-05-15"], "confirmed": ["226", "x"], "asymptomatic": [1492.0, None]}
    ).to_parquet(HERE / "wrong_dtypes.parquet", index=False)
    (HERE / "broken.parquet").write_bytes(b"PAR1 this is not really parquet")
    (HERE / "spreadsheet.xlsx").write_bytes(b"PK\x03\x04")


if __name__ == "__main__":
    main()

"""Reading deliveries: file stems, encodings, headers and aliases, CSV/XLSX/Parquet/GeoJSON."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import RESIDENTS, alias_file, write_csv

from pipelines.ingest.read import (
    Aliases,
    DeliveryFile,
    FileRejected,
    find_files,
    inspect,
    read_chunks,
    table_for,
)
from pipelines.ingest.schema import norm_header


def _read_all(path: Path, table: str, aliases: Aliases | None = None, chunk_rows: int = 1000):
    fmt = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".geojson": "geojson"}[
        path.suffix
    ]
    f = DeliveryFile(path, table, fmt)
    info = inspect(f)
    chunks = list(read_chunks(f, aliases or Aliases(), chunk_rows, info))
    return info, chunks


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("residents.csv", ("residents", "")),
        ("residents.xlsx", ("residents", "")),
        ("residents.parquet", ("residents", "")),
        ("residents_2026-11.csv", ("residents", "2026-11")),
        ("Residents_2026-11.CSV", ("residents", "2026-11")),
        ("population_grid.csv", ("population_grid", "")),
        ("population_2026.csv", ("population", "2026")),
        ("chronic_registry_batch1.csv", ("chronic_registry", "batch1")),
        ("case_reports.csv", ("case_reports", "")),
        ("居民健康档案.xlsx", ("residents", "")),
        ("areas.geojson", ("areas", "")),
        ("residentsx.csv", None),
        ("manifest.json", None),
    ],
)
def test_table_by_stem(name: str, expected: tuple[str, str] | None) -> None:
    assert table_for(Path(name)) == expected


def test_find_files_orders_and_skips(tmp_path: Path) -> None:
    for n in (
        "claims_2026-02.csv",
        "claims_2026-01.csv",
        "residents.csv",
        "areas.csv",
        "notes.txt",
        "manifest.json",
        "roads.osm.pbf",
        "residents.docx",
    ):
        (tmp_path / n).write_text("x")
    files, skipped = find_files(tmp_path)
    assert [f.name for f in files] == [
        "areas.csv",
        "residents.csv",
        "claims_2026-01.csv",
        "claims_2026-02.csv",
        "roads.osm.pbf",
    ]
    assert {s.path.name for s in skipped} == {
        "notes.txt",
        "manifest.json",
        "residents.docx",
    }


def test_header_normalisation() -> None:
    assert norm_header("Birth Date") == norm_header("birth_date") == "birthdate"
    assert norm_header("ＢＩＲＴＨ＿ＤＡＴＥ") == "birthdate"  # full-width
    assert norm_header("执业（助理）医师") == norm_header("执业(助理)医师")
    m = Aliases().resolve(
        "residents",
        ["档案编号", " 姓名 ", "性别", "出生日期", "所属村居", "ID_Number", "LAT"],
        "r.csv",
    )
    assert m == {
        "档案编号": "resident_id",
        " 姓名 ": "name",
        "性别": "sex",
        "出生日期": "birth_date",
        "所属村居": "area_code",
        "ID_Number": "id_number",
        "LAT": "lat",
    }


def test_alias_file_adds_headers(tmp_path: Path) -> None:
    path = alias_file(
        tmp_path / "aliases.json",
        {"residents": {"居民编号": "resident_id"}, "*": {"村编码": "area_code"}},
    )
    m = Aliases(path).resolve(
        "residents", ["居民编号", "姓名", "性别", "出生日期", "村编码"], "r.csv"
    )
    assert m["居民编号"] == "resident_id" and m["村编码"] == "area_code"
    with pytest.raises(ValueError, match="alias file"):
        bad = tmp_path / "bad.json"
        bad.write_text("[1, 2]")
        Aliases(bad)


def test_missing_column_rejects_with_names_and_aliases() -> None:
    with pytest.raises(FileRejected) as err:
        Aliases().resolve("residents", ["resident_id", "name", "sex", "area_code"], "residents.csv")
    msg = str(err.value)
    assert "residents.csv" in msg and "birth_date" in msg and "出生日期" in msg
    with pytest.raises(FileRejected) as err:
        Aliases().resolve(
            "claims", ["claim_id", "visit_date", "visit_type", "facility_id"], "claims_2026-01.csv"
        )
    msg = str(err.value)
    assert "one of resident_id" in msg and "id_number" in msg and "身份证号" in msg


def test_gb18030_with_chinese_headers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "residents.csv",
        [
            {
                "档案编号": "R1",
                "姓名": "张三",
                "性别": "男",
                "出生日期": "1950-03-04",
                "所属村居": "370783001001",
                "现住址": "圣城街道东村1号",
            }
        ],
        encoding="gb18030",
    )
    info, chunks = _read_all(path, "residents")
    assert info.encoding == "gb18030" and info.bad_lines == 0
    df = chunks[0].data
    assert df.loc[0, "name"] == "张三" and df.loc[0, "address"] == "圣城街道东村1号"
    assert df.loc[0, "sex"] == "男"


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    text = "resident_id,name,sex,birth_date,area_code\r\nR1,张三,1,1950-03-04,370783001001\r\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    info, chunks = _read_all(path, "residents")
    assert info.encoding == "utf-8-sig"
    assert chunks[0].data.columns[0] == "resident_id"
    assert chunks[0].data.loc[0, "area_code"] == "370783001001"


def test_bad_bytes_flag_rows_rest_decodes(tmp_path: Path) -> None:
    rows = [dict(r, lat="", lng="") for r in RESIDENTS]
    path = write_csv(tmp_path / "residents.csv", rows)
    data = path.read_bytes().replace("李四".encode(), "李".encode() + b"\xff\xfe" + "四".encode())
    path.write_bytes(data)
    info, chunks = _read_all(path, "residents")
    assert info.encoding == "utf-8" and info.bad_lines == 1
    ch = chunks[0]
    assert list(ch.bad_encoding) == [False, True, False]
    assert ch.data.loc[0, "name"] == "张三" and ch.data.loc[2, "name"] == "王五"
    # the same in a GB18030 file
    path2 = write_csv(
        tmp_path / "staff.csv",
        [
            {"工号": "S1", "姓名": "李医生", "facility_id": "F", "岗位": "gp"},
            {"工号": "S2", "姓名": "王医生", "facility_id": "F", "岗位": "gp"},
        ],
        encoding="gb18030",
    )
    raw = path2.read_bytes().replace("王".encode("gb18030"), "王".encode("gb18030") + b"\xff\xfe")
    path2.write_bytes(raw)
    info, chunks = _read_all(path2, "staff")
    assert info.encoding == "gb18030" and list(chunks[0].bad_encoding) == [False, True]
    assert chunks[0].data.loc[1, "staff_id"] == "S2"


def test_xlsx_first_sheet_dates_and_numbers(tmp_path: Path) -> None:
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["档案编号", "姓名", "性别", "出生日期", "所属村居", "纬度"])
    ws.append(["R1", "张三", 1, dt.datetime(1950, 3, 4), 370783001001, 36.5])
    ws.append([None, None, None, None, None, None])  # blank row: skipped, numbering kept
    ws.append(["R2", "李四", "女", 18000, "370783001002", None])
    wb.create_sheet("other").append(["ignored"])
    wb.save(tmp_path / "residents.xlsx")
    _, chunks = _read_all(tmp_path / "residents.xlsx", "residents")
    df = chunks[0].data
    assert list(df["birth_date"]) == ["1950-03-04", "18000"]
    assert list(df["area_code"]) == ["370783001001", "370783001002"]
    assert list(df["lat"]) == ["36.5", ""] and list(chunks[0].row_number) == [1, 3]


def test_parquet_typed_columns(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "measurement_id": ["M1", "M2"],
                "resident_id": ["R1", "R2"],
                "measured_at": pa.array([dt.datetime(2026, 3, 1, 0, 30), None], pa.timestamp("s")),
                "sbp": [120.0, None],
                "heart_rate": pa.array([70, 80], pa.int64()),
            }
        ),
        tmp_path / "measurements.parquet",
    )
    _, chunks = _read_all(tmp_path / "measurements.parquet", "measurements", chunk_rows=1)
    assert len(chunks) == 2
    assert chunks[0].data.loc[0, "measured_at"].startswith("2026-03-01T00:30:00")
    assert chunks[0].data.loc[0, "sbp"] == "120" and chunks[1].data.iloc[0]["sbp"] == ""
    assert list(chunks[1].row_number) == [2]


def test_geojson_feature_collection(tmp_path: Path) -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"area_code": "370783000000", "name": "寿光市", "level": "县"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[118.6, 36.7], [119, 36.7], [119, 37], [118.6, 36.7]]],
                },
            }
        ],
    }
    (tmp_path / "areas.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    _, chunks = _read_all(tmp_path / "areas.geojson", "areas")
    df = chunks[0].data
    assert df.loc[0, "geometry_wkt"].startswith("POLYGON") and df.loc[0, "level"] == "县"


def test_chunks_keep_row_numbers(tmp_path: Path) -> None:
    rows = [dict(RESIDENTS[0], resident_id=f"R{i}") for i in range(25)]
    path = write_csv(tmp_path / "residents.csv", rows)
    _, chunks = _read_all(path, "residents", chunk_rows=10)
    assert [len(c.data) for c in chunks] == [10, 10, 5]
    nums = pd.concat([pd.Series(c.row_number) for c in chunks]).tolist()
    assert nums == list(range(1, 26))


def test_unreadable_csv_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    path.write_text("resident_id,name,sex,birth_date,area_code\nR1,a,1,1950-01-01\n")
    with pytest.raises(FileRejected, match=r"residents\.csv"):
        _read_all(path, "residents")
    empty = tmp_path / "areas.csv"
    empty.write_text("")
    with pytest.raises(FileRejected, match=r"areas\.csv"):
        _read_all(empty, "areas")


def test_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    path.write_text(
        "resident_id,name,sex,birth_date,area_code\nR1,a,1,1950-01-01,V\n\n"
        ",,,,\nR2,b,2,1950-01-01,V\n",
        encoding="utf-8",
    )
    _, chunks = _read_all(path, "residents")
    assert list(chunks[0].row_number) == [1, 4] and chunks[0].data["resident_id"].tolist() == [
        "R1",
        "R2",
    ]

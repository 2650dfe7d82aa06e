"""The report's data formats: XLSX (the tables), GeoPackage and GeoJSON (the layers).

- XLSX (openpyxl): one sheet per table of the PDF, same headings and the same withheld
  small numbers, then the methods note;
- GeoPackage (pyogrio): one layer per map layer — ``travel_time_cells`` (H3 hexagons with
  the minutes to each facility group by each mode), ``catchments``, ``candidate_sites``,
  ``chosen_sites`` and ``sub_centre`` — in EPSG:4326;
- GeoJSON: one FeatureCollection (RFC 7946 has no layers) whose features carry their
  layer's name in the ``layer`` property; properties that are null are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from service.reports.tables import ReportData


def write_xlsx(data: ReportData, out: Path) -> Path:
    """Write the report's tables and methods note as an Excel workbook."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheets = dict(data.tables)
    sheets["方法说明"] = pd.DataFrame(data.methods, columns=["项目", "说明"])
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for name, table in sheets.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)
            sheet = writer.sheets[name[:31]]
            sheet.freeze_panes = "A2"
            for cell in sheet[1]:
                cell.font = Font(bold=True)
                cell.fill = PatternFill("solid", fgColor="DEEBF7")
            for i, column in enumerate(table.columns, start=1):
                longest = max([len(str(column)), *(len(str(v)) for v in table[column])])
                # CJK characters are about two columns wide.
                sheet.column_dimensions[get_column_letter(i)].width = min(2 * longest + 2, 60)
        writer.book.properties.title = data.title
    return out


def write_gpkg(data: ReportData, out: Path) -> Path:
    """Write the report's layers to a GeoPackage, one layer each."""
    if out.exists():
        out.unlink()  # a fresh file, not layers appended to an old one
    for name, layer in data.layers.items():
        layer.to_file(out, layer=name, driver="GPKG", engine="pyogrio")
    return out


def geojson_text(data: ReportData) -> str:
    """The report's layers as one GeoJSON FeatureCollection (``layer`` property)."""
    features: list[dict[str, object]] = []
    for name, layer in data.layers.items():
        collection = json.loads(layer.assign(layer=name).to_json(na="drop", drop_id=True))
        features.extend(collection["features"])
    return json.dumps(
        {"type": "FeatureCollection", "name": data.title, "features": features},
        ensure_ascii=False,
    )


def write_geojson(data: ReportData, out: Path) -> Path:
    """Write :func:`geojson_text` to ``out`` (UTF-8)."""
    out.write_text(geojson_text(data), encoding="utf-8")
    return out

"""Regenerate the small hostile files of this folder (``python tests/data/bad/make_corpus.py``).

Large hostile inputs (20k columns, zip bombs, 10k-deep JSON) are built by fixtures in
``tests/hub_kernel/data/io/test_bad_corpus.py`` at test time instead of being committed.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "data"
    sheet.append(["id", "name"])
    for i in range(200):
        sheet.append([i, f"row {i}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def files() -> dict[str, bytes]:
    rng = random.Random(4)
    garbage = b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(2048))
    not_a_workbook = io.BytesIO()
    with zipfile.ZipFile(not_a_workbook, "w") as archive:
        archive.writestr("readme.txt", "a zip archive, but no workbook inside")
    xlsx = _xlsx()
    return {
        "empty.csv": b"",
        "header_only.csv": b"id,name,price\n",
        "blank_lines.csv": b"\n\r\n\n",
        "garbage.csv": garbage,
        "utf16.csv": "name,city\nJosé,Zürich\nLi,東京\n".encode("utf-16"),
        "latin1.csv": "name,city,amount\nJosé,Zürich,1.5\nRenée,Besançon,2\n".encode("latin-1"),
        "bom.csv": "id,value\n1,a\n2,b\n".encode("utf-8-sig"),
        "semicolon.csv": b"day;amount;label\n2024-01-31;1,5;a\n2024-02-29;2,25;b\n",
        "ragged.csv": b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n",
        "unterminated_quote.csv": b'a,b\n1,"never closed\n2,3\n',
        "crlf_quoted_newline.csv": b'id,text\r\n1,"two\r\nlines"\r\n2,plain\r\n',
        "duplicate_columns.csv": b"a,a,b,a,,b\n1,2,3,4,5,6\n",
        "html_columns.csv": (
            b'<script>alert(1)</script>,"<img src=x onerror=alert(2)>",&amp;\n1,2,3\n'
        ),
        "nan_infinity.json": b'[{"x": NaN, "y": 1}, {"x": Infinity, "y": -Infinity}]',
        "scalars.json": b"[1, 2, 3]",
        "single_quotes.json": b"[{'a': 1}]",
        "bad_line.jsonl": b'{"a": 1}\n{"a": 2}\n\n{"a": 3,}\n{"a": 4}\n',
        "not_parquet.parquet": b"PAR1" + bytes(rng.randrange(256) for _ in range(256)),
        "truncated.xlsx": xlsx[: len(xlsx) // 2],
        "not_a_workbook.xlsx": not_a_workbook.getvalue(),
    }


if __name__ == "__main__":
    for name, content in files().items():
        (HERE / name).write_bytes(content)
        print(f"{name}: {len(content)} bytes")

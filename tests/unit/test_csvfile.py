"""CSV specifics: dialects, encodings, broken files and how the file is rewritten."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import BadInput, WriteFailed
from schemas.connections import CsvConnection
from schemas.jobs import Endpoint
from schemas.plan import Change
from schemas.values import Record, record_from_cells
from services.providers import FACTS, open_provider
from services.providers.base import Layout
from services.providers.changes import FieldChanges
from services.providers.csv.connection import CsvFile
from services.providers.csv.provider import CsvProvider
from services.providers.csv.read import check_width, header, take

LAYOUT = Layout(keys=("id",), fields=("id", "name"), multi_valued={"groups": "|"})


def provider(
    folder: Path,
    layout: Layout = LAYOUT,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> CsvProvider:
    """A provider for people.csv in the folder, with the endpoint's dialect."""
    connection = CsvConnection(directory=str(folder))
    endpoint = Endpoint(connection="f", file="people.csv", delimiter=delimiter, encoding=encoding)
    result = open_provider(connection, endpoint, layout)
    assert isinstance(result, CsvProvider)
    return result


def written(folder: Path) -> str:
    """The file's text exactly, line endings included."""
    return (folder / "people.csv").read_bytes().decode()


async def read(p: CsvProvider, batch_size: int = 100) -> list[Record]:
    return [record async for batch in p.read(batch_size) for record in batch]


async def source(folder: Path, data: bytes, **endpoint: str) -> CsvProvider:
    (folder / "people.csv").write_bytes(data)
    p = provider(folder, LAYOUT, **endpoint)
    await p.open(write=False)
    return p


def create(key: str, **fields: str | list[str]) -> Change:
    return Change(action="create", key=key, match={"id": key}, set={"id": key, **fields})


async def test_utf8_file_with_a_bom_reads_the_first_column_name_cleanly(tmp_path: Path) -> None:
    p = await source(tmp_path, "\ufeffid,name\n1,Zoë\n".encode())

    assert await read(p) == [{"id": "1", "name": "Zoë"}]


async def test_semicolon_delimited_file_keeps_commas_in_values(tmp_path: Path) -> None:
    p = await source(tmp_path, b"id;name\n1;Lee, Ann\n", delimiter=";")

    assert await read(p) == [{"id": "1", "name": "Lee, Ann"}]


async def test_endpoint_dialect_overrides_the_connection(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_bytes("id|name\n1|'A|B'\n".encode("latin-1"))
    connection = CsvConnection(directory=str(tmp_path), delimiter=";", encoding="utf-8")
    endpoint = Endpoint(
        connection="f", file="people.csv", delimiter="|", quote_char="'", encoding="latin-1"
    )
    p = open_provider(connection, endpoint, LAYOUT)
    await p.open(write=False)

    assert [r async for b in p.read(10) for r in b] == [{"id": "1", "name": "A|B"}]


async def test_rows_read_make_the_records_read(tmp_path: Path) -> None:
    """`read_rows` gives `read`'s batches as the rows read (blank lines left out): the
    records they make are `read`'s, batch by batch; a broken row fails it alike."""
    data = b"id,name,groups\n1,Ann,a|b\n\n2,,|c||\n3,Bo,\n4,Cy,d\n5,Di,e|f\n"
    p = await source(tmp_path, data)
    rows = [batch async for batch in p.read_rows(2)]
    records = [batch async for batch in p.read(2)]

    assert [batch.records() for batch in rows] == records
    assert [len(batch) for batch in rows] == [2, 2, 1]
    assert rows[0].rows == [["1", "Ann", "a|b"], ["2", "", "|c||"]]
    assert records[0][1] == {"id": "2", "groups": ["c"]}
    p = await source(tmp_path, data + b"6,Ed\n")
    with pytest.raises(BadInput, match=r"people.csv:8: 2 fields, the header has 3"):
        [batch async for batch in p.read_rows(2)]


async def test_latin1_file_reads_with_its_encoding(tmp_path: Path) -> None:
    p = await source(tmp_path, "id,name\n1,Zoë\n".encode("latin-1"), encoding="latin-1")

    assert await read(p) == [{"id": "1", "name": "Zoë"}]


async def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    p = await source(tmp_path, b"id,name\r\n\r\n1,Ann\r\n\r\n\r\n")

    assert await read(p) == [{"id": "1", "name": "Ann"}]


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_empty_columns_after_the_last_name_are_no_data(
    tmp_path: Path, batch_size: int
) -> None:
    # A spreadsheet's "Save as CSV" of a sheet whose columns past the last one were used
    # once: every row ends with empty fields, as the Excel provider reads such a sheet.
    p = await source(tmp_path, b"\xef\xbb\xbfid,name,,\r\n1,Ann,,\r\n\r\n2,Bo,,\r\n")
    assert p.source_fields() == ["id", "name"]
    assert await read(p, batch_size) == [{"id": "1", "name": "Ann"}, {"id": "2", "name": "Bo"}]
    assert await p.places([{"id": "2", "name": "Bo"}]) == ["people.csv:4"]


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_a_value_under_a_column_without_a_name_names_its_line(
    tmp_path: Path, batch_size: int
) -> None:
    p = await source(tmp_path, b"id,name,,\n1,Ann,,\n2,Bo,,x\n")
    with pytest.raises(BadInput) as refused:
        await read(p, batch_size)
    assert str(refused.value).endswith(
        "people.csv:3: a value in column 4, which has no name in the header; name the "
        "column, or clear the cell"
    )


async def test_ragged_row_names_the_file_and_its_first_line(tmp_path: Path) -> None:
    data = b'id,name,mail\n1,"Ann\nLee",a@x\n2,Bo\n3,Cy,c@x\n'
    p = await source(tmp_path, data)

    with pytest.raises(BadInput, match=r"people\.csv:4: 2 fields, the header has 3"):
        await read(p)


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_a_header_repeated_mid_file_is_refused_naming_its_line(
    tmp_path: Path, batch_size: int
) -> None:
    """Two exports joined into one file: the second header is no person called "id"."""
    data = b'id,name\r\n1,"Ann\r\nLee"\r\n2,Bo\r\nid,name\r\n3,Cy\r\n'
    p = await source(tmp_path, data)

    with pytest.raises(BadInput, match=r"people\.csv:5: the header row again"):
        await read(p, batch_size)
    with pytest.raises(BadInput, match=r"people\.csv:5: the header row again"):
        [row async for batch in p.read_rows(batch_size) for row in batch.records()]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'id,name\n1,Ann\n2,"Bo\n3,Cy\n4,Di\n', 3),
        (b'id,name\n1,"Ann\nLee"\n2,"Bo ""the"" third\n3,Cy\n', 4),  # "" is a quote
        (b'id,name,mail\n1,"Ann\nLee","a@x\n', 3),  # the row opens on 2, the quote on 3
        (b'id,name\r\n1,Ann\r\n2,Bo"b\r\n3,"Cy\r\n', 4),  # a quote inside a value is text
    ],
    ids=["mid-file", "after-escaped-quotes", "second-quote-of-a-row", "crlf"],
)
async def test_an_unclosed_quote_names_the_line_it_starts_on(
    tmp_path: Path, data: bytes, line: int
) -> None:
    p = await source(tmp_path, data)
    with pytest.raises(BadInput, match=rf"people\.csv: unclosed quote starting at line {line}\b"):
        await read(p)


async def test_a_broken_row_late_in_the_file_fails_only_when_reached(tmp_path: Path) -> None:
    """Reading streams: earlier batches arrive before the bad row is parsed."""
    lines = ["id,name", *[f"{i},User {i}" for i in range(10)], "oops"]
    p = await source(tmp_path, "\n".join(lines).encode())
    batches = p.read(4)

    assert len(await anext(batches)) == 4
    assert len(await anext(batches)) == 4
    with pytest.raises(BadInput, match=r"people\.csv:12: 1 fields, the header has 2"):
        await anext(batches)


@pytest.mark.parametrize(
    ("data", "encoding", "message"),
    [
        (
            "\ufeffid,name\r\n1,Zoë\r\n".encode(),
            "cp1252",
            r"people\.csv: the file starts with a UTF-8 byte order mark.*`encoding = \"utf-8\"`",
        ),
        (
            "id,name\r\n1,Zoë\r\n".encode("utf-16"),
            "utf-8",
            r"people\.csv: the file starts with a UTF-16 byte order mark.*`encoding = \"utf-16\"`",
        ),
        (
            "id,name\r\n1,Zoë\r\n".encode("utf-16-le"),
            "utf-16",
            r"people\.csv: not valid utf-16 near line 1",
        ),
    ],
    ids=["csv-utf-8-read-as-cp1252", "unicode-text-read-as-utf-8", "utf-16-without-bom"],
)
async def test_a_file_in_another_encoding_than_set_is_refused_naming_the_one_it_is_in(
    tmp_path: Path, data: bytes, encoding: str, message: str
) -> None:
    """Excel's "CSV UTF-8" and "Unicode Text" say what they are in their first bytes: read
    as another encoding, every "ë" would be written on as "Ã«"."""
    with pytest.raises(BadInput, match=message):
        await read(await source(tmp_path, data, encoding=encoding))


async def test_bad_encoding_names_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    data = b"id,name\n1,Ann\n2,Bo\n3,Cy\n4,Zo\xeb\n5,Ed\n"

    with pytest.raises(BadInput, match=r"people\.csv: not valid utf-8 near line 5"):
        await read(await source(tmp_path, data))  # a small file is decoded on open already


async def test_bad_encoding_deep_in_a_large_file_is_located(tmp_path: Path) -> None:
    rows = [f"{i},User {i}" for i in range(20_000)]
    rows[15_000] = "15000,Zo\udceb"
    text = "id,name\n" + "\n".join(rows) + "\n"
    p = await source(tmp_path, text.encode("utf-8", "surrogateescape"))

    with pytest.raises(BadInput, match="near line 15002;"):
        await read(p)


async def test_missing_source_file_is_bad_input(tmp_path: Path) -> None:
    p = provider(tmp_path)

    with pytest.raises(BadInput, match=r"people\.csv: file not found"):
        await p.open(write=False)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"id,name,id\n", r"people\.csv:1: the header names 'id' twice \(columns 1 and 3\)"),
        (b"id,,name\n", r"people\.csv:1: column 2 of the header has no name"),
        (b"", r"people\.csv: the file is empty"),
    ],
)
async def test_bad_header_is_reported_on_open(tmp_path: Path, header: bytes, message: str) -> None:
    (tmp_path / "people.csv").write_bytes(header + b"1,2,3\n" if header else b"")

    with pytest.raises(BadInput, match=message):
        await provider(tmp_path).open(write=False)


async def test_empty_file_as_destination_gets_a_header(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_bytes(b"")
    p = provider(tmp_path)
    await p.open(write=True)

    assert await read(p) == []
    await p.apply([create("1", name="Ann")])
    assert written(tmp_path) == "id,name\r\n1,Ann\r\n"


async def test_new_file_follows_layout_then_appends_new_fields(tmp_path: Path) -> None:
    p = provider(tmp_path, Layout(keys=("id",), fields=("name", "id")))
    await p.open(write=True)

    await p.apply([create("1", name="Ann"), create("2", name="Bo", title="CTO")])

    assert written(tmp_path) == "name,id,title\r\nAnn,1,\r\nBo,2,CTO\r\n"


async def test_existing_file_keeps_its_columns_newlines_and_bom(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_bytes("\ufeffid;note;name\n1;keep me;Ann\n".encode())
    p = provider(tmp_path, delimiter=";")
    await p.open(write=True)

    await p.apply([create("1", name="Ann Lee", mail="a@x;y")])

    assert (tmp_path / "people.csv").read_bytes() == (
        '\ufeffid;note;name;mail\n1;keep me;Ann Lee;"a@x;y"\n'.encode()
    )


async def test_quoting_is_minimal_and_multi_values_are_joined(tmp_path: Path) -> None:
    p = provider(tmp_path, Layout(keys=("id",), multi_valued={"groups": "|"}))
    await p.open(write=True)

    await p.apply([create("1", name='Ann "A" Lee', groups=["x", "y"]), create("2", name="a,b")])

    assert written(tmp_path) == ('id,name,groups\r\n1,"Ann ""A"" Lee",x|y\r\n2,"a,b",\r\n')


async def test_reapplying_a_batch_does_not_rewrite_the_file(tmp_path: Path) -> None:
    p = provider(tmp_path)
    await p.open(write=True)
    await p.apply([create("1", name="Ann")])
    path = tmp_path / "people.csv"
    os.utime(path, ns=(0, 0))

    await p.apply([create("1", name="Ann")])

    assert path.stat().st_mtime_ns == 0


async def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,name\n1,Ann\n")
    p = provider(tmp_path)
    await p.open(write=True)

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WriteFailed, match="No space left on device"):
        await p.apply([create("1", name="Changed")])

    assert await asyncio.to_thread(path.read_text) == "id,name\n1,Ann\n"
    assert await asyncio.to_thread(os.listdir, tmp_path) == ["people.csv"]


async def test_value_the_encoding_cannot_hold_fails_that_change_only(tmp_path: Path) -> None:
    p = provider(tmp_path, encoding="latin-1")
    await p.open(write=True)

    outcomes = await p.apply([create("1", name="Zoë"), create("2", name="Ada 👩")])

    assert outcomes[0].error is None
    assert outcomes[1].error is not None and "latin-1" in outcomes[1].error
    assert (tmp_path / "people.csv").read_bytes() == "id,name\r\n1,Zoë\r\n".encode("latin-1")


async def test_an_update_may_rename_a_key_and_later_changes_see_it(tmp_path: Path) -> None:
    p = provider(tmp_path)
    await p.open(write=True)
    rename = Change(action="update", key="2", match={"id": "2"}, set={"id": "9"})
    after = Change(action="update", key="9", match={"id": "9"}, set={"name": "Bo Lee"})

    outcomes = await p.apply([create("1", name="A"), create("2", name="Bo"), rename, after])

    assert [o.error for o in outcomes] == [None] * 4
    assert written(tmp_path) == "id,name\r\n1,A\r\n9,Bo Lee\r\n"


async def test_disable_is_not_supported(tmp_path: Path) -> None:
    p = provider(tmp_path)
    await p.open(write=True)

    [outcome] = await p.apply([Change(action="disable", key="1", match={"id": "1"})])

    assert outcome.error == "csv does not support disable"


async def test_destination_in_a_missing_folder_cannot_be_written(tmp_path: Path) -> None:
    p = provider(tmp_path / "nowhere")

    with pytest.raises(WriteFailed, match="nowhere does not exist"):
        await p.open(write=True)
    assert not (tmp_path / "nowhere").exists()


def test_endpoint_without_a_file_is_bad_input(tmp_path: Path) -> None:
    connection = CsvConnection(directory=str(tmp_path))

    with pytest.raises(BadInput, match=r"csv .*needs `file:`"):
        open_provider(connection, Endpoint(connection="files"), LAYOUT)


@pytest.mark.parametrize(("option", "value"), [("delimiter", ";;"), ("encoding", "klingon")])
def test_bad_dialect_options_are_bad_input(tmp_path: Path, option: str, value: str) -> None:
    with pytest.raises(BadInput, match=value):
        provider(tmp_path, LAYOUT, **{option: value})


@pytest.mark.parametrize("name", ["people.xlsx", "People.XLS", "book.xlsm"])
def test_a_workbook_named_as_a_csv_side_is_refused_pointing_to_the_excel_provider(
    tmp_path: Path, name: str
) -> None:
    """Before, people.xlsx read as CSV failed as "not valid utf-8" and a destination
    named x.xlsx silently got semicolon-separated text."""
    endpoint = Endpoint(connection="f", file=name)
    with pytest.raises(BadInput, match=r'is an Excel workbook.*provider = "excel"'):
        open_provider(CsvConnection(directory=str(tmp_path)), endpoint, LAYOUT)
    assert any(
        field == "file" and 'provider = "excel"' in text
        for field, text in FACTS["csv"].check_endpoint(endpoint)
    )
    assert not (tmp_path / name).exists()


async def test_a_workbook_saved_as_csv_says_it_is_a_workbook(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.save(tmp_path / "people.csv")
    with pytest.raises(BadInput, match=r'people\.csv: an Excel workbook.*provider = "excel"'):
        await read(await source(tmp_path, (tmp_path / "people.csv").read_bytes()))


def row_by_row(file: CsvFile, n: int, layout: Layout) -> list[list[Record]] | str:
    """The batches of `n` records a CSV file gives read row by row, as before the rows
    were parsed a batch at a time (or the error met)."""
    try:
        with file.open_text() as f:
            rows = file.rows(f)
            names = header(file, rows, source=True) or []
            delimiters = [layout.multi_valued.get(name) for name in names]
            batches: list[list[Record]] = []
            while True:
                cells = []
                for line, row in itertools.islice(rows, n):
                    check_width(file, line, row, names)
                    cells.append(row)
                if not cells:
                    return batches
                batches.append([record_from_cells(names, row, delimiters) for row in cells])
    except BadInput as error:
        return str(error)


def batch_by_batch(file: CsvFile, n: int, layout: Layout) -> list[list[Record]] | str:
    """The batches `take` gives (or the error met)."""
    try:
        with file.open_text() as f:
            reader = file.reader(f)
            names = header(file, file.numbered(reader), source=True) or []
            batches: list[list[Record]] = []
            while (taken := take(file, reader, names, n, layout))[0]:
                batches.append(taken[1])
            return batches
    except BadInput as error:
        return str(error)


csv_lines = st.one_of(
    st.sampled_from(["1,Ann,a|b", "2,,", ",Bo,|c|", '3,"Cy\nLee",x', "", "", "4,Di", "5,Ed,f,g"]),
    st.sampled_from(['6,"Fay', '7,Gus"s,h', "8,Zo\udceb,i", "9,\x00,j"]),
    st.builds(",".join, st.lists(st.text(alphabet="ab|", max_size=3), min_size=3, max_size=3)),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(csv_lines, max_size=14), st.integers(min_value=1, max_value=5), st.booleans())
def test_rows_parsed_a_batch_at_a_time_are_those_parsed_row_by_row(
    lines: list[str], n: int, crlf: bool
) -> None:
    """For any file — blank lines, values over two lines, rows of another width, an
    unclosed quote, undecodable bytes —, the same batches of records, or the same error
    naming the same line."""
    text = ("\r\n" if crlf else "\n").join(["id,name,groups", *lines]) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "people.csv").write_bytes(text.encode("utf-8", "surrogateescape"))
        file = CsvFile(CsvConnection(directory=folder), Endpoint(connection="f", file="people.csv"))
        layout = Layout(multi_valued={"groups": "|"})
        assert batch_by_batch(file, n, layout) == row_by_row(file, n, layout)


change_values = st.sampled_from(["", "3", "10", "7", "2026-01-01T00:00:00Z", "a|b", " 9 "])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(change_values, max_size=12),
    st.one_of(st.none(), change_values),
    st.sampled_from(["at", "none", "groups"]),
    st.integers(min_value=1, max_value=4),
)
def test_an_incremental_read_keeps_the_records_a_whole_read_filtered_keeps(
    values: list[str], since: str | None, field: str, n: int
) -> None:
    """Rows tested on their change cell before any record is made: the same records and
    the same watermark as filtering every record — the field empty, missing from the
    header, or multi-valued."""
    lines = [f"{at},Name {at},{value},x|y" for at, value in enumerate(values)]
    text = "\n".join(["id,name,at,groups", *lines]) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "people.csv").write_text(text)

        async def both() -> tuple[list[Record], str | None, list[Record], str | None]:
            provider = CsvProvider(
                CsvConnection(directory=folder),
                Endpoint(connection="f", file="people.csv"),
                Layout(multi_valued={"groups": "|"}),
            )
            await provider.open(write=False)
            changed = [r async for batch in provider.read_changed(n, since, field) for r in batch]
            changes = FieldChanges(field, since)
            every = [r async for batch in provider.read(n) for r in batch]
            return (
                changed,
                provider.watermark(),
                list(filter(changes.wanted, every)),
                (changes.watermark()),
            )

        changed, mark, expected, expected_mark = asyncio.run(both())
        assert changed == expected
        assert mark == expected_mark

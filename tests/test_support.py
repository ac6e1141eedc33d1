"""The support table (schemas/support-windows.yaml) and its warnings: the table's format, a row for
every pin and none for anything unpinned, and the warning rule on fixed days (before the
window, inside it, past it, not published). Never the real calendar: `make test` does not turn
red because a day passed; the warnings themselves are what `make preview` and the daily run show."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from conftest import ROOT

from components import support, versions

ROWS = yaml.safe_load(support.TABLE.read_text())


def test_the_table_is_well_formed_and_yamllint_clean():
    windows = support.load()
    assert len(windows) == len(ROWS)
    for window in windows.values():
        assert window.read >= window.released and window.note.strip()
    from yamllint import config, linter

    rules = config.YamlLintConfig(file=str(ROOT / ".yamllint"))
    assert [str(p) for p in linter.run(support.TABLE.read_text(), rules, str(support.TABLE))] == []


def test_every_pin_has_a_row_and_every_row_is_a_pin():
    pins = support.pins()
    assert ("istio", support.minor(versions.ISTIO_VERSION)) in pins
    assert ("cert-manager", support.minor(versions.CERT_MANAGER_VERSION)) in pins
    assert {m for c, m in pins if c == "gke"} == set(versions.PLATFORM_KUBERNETES_MINORS)
    assert [(w.component, w.minor) for w in support.pinned()] == pins
    assert sorted(support.load()) == sorted(pins), "a row for a minor no longer pinned: remove it"


def write(tmp_path, rows) -> dict:
    path = tmp_path / "support-windows.yaml"
    path.write_text(yaml.safe_dump(rows, sort_keys=False))
    return support.load(path)


def test_a_pin_without_a_row_is_an_error(tmp_path):
    windows = write(tmp_path, [r for r in ROWS if r["component"] != "cert-manager"])
    with pytest.raises(support.SupportTableError, match="no row for cert-manager"):
        support.warnings(date(2026, 1, 1), windows)


@pytest.mark.parametrize("change, says", [
    ({"minor": 1.3}, "minor: Input should be a valid string"),  # unquoted in YAML
    ({"released": "2026-05-18"}, "released: Input should be a valid date"),  # quoted: not a date
    ({"source": "istio.io"}, "source: String should match pattern"),
    ({"end_of_support": date(2020, 1, 1)}, "end_of_support 2020-01-01 is not after released"),
    ({"note": ""}, "note: String should have at least 1 character"),
    ({"eol": None}, "eol: Extra inputs are not permitted"),
])
def test_a_malformed_row_is_refused_with_its_line(tmp_path, change, says):
    with pytest.raises(support.SupportTableError, match=f"row 1: {says}"):
        write(tmp_path, [{**ROWS[0], **change}, *ROWS[1:]])
    if "eol" not in change:
        with pytest.raises(support.SupportTableError, match="row 1: read: Field required"):
            write(tmp_path, [{k: v for k, v in ROWS[0].items() if k != "read"}, *ROWS[1:]])


def test_a_second_row_for_a_minor_is_refused(tmp_path):
    with pytest.raises(support.SupportTableError, match=f"row {len(ROWS) + 1}: a second row"):
        write(tmp_path, [*ROWS, ROWS[-1]])


def dated(tmp_path, end: date) -> dict:
    """The table with every pin's end of support at ``end``."""
    return write(tmp_path, [{**row, "released": date(2020, 1, 1), "end_of_support": end} for row in ROWS])


END = date(2027, 3, 1)


@pytest.mark.parametrize("today, days, says", [
    (END - timedelta(days=support.WARNING_DAYS + 1), None, None),  # before the window: nothing
    (END - timedelta(days=support.WARNING_DAYS), 60, "in 60 days"),  # its first day
    (END - timedelta(days=1), 1, "in 1 days"),
    (END, 0, "in 0 days"),  # the last supported day
    (END + timedelta(days=30), -30, "30 days ago"),  # past it
])
def test_the_warning_window(tmp_path, today, days, says):
    windows = dated(tmp_path, END)
    found = support.notices(today, windows)
    if days is None:
        assert found == [] and support.warnings(today, windows) == []
        return
    assert [n.days_left for n in found] == [days] * len(support.pins())
    lines = support.warnings(today, windows)
    assert lines[0].startswith(f"Istio {support.minor(versions.ISTIO_VERSION)}: end of support 2027-03-01, {says}")
    assert lines[-1].startswith(f"Kubernetes {versions.PLATFORM_KUBERNETES_MINORS[-1]} on GKE: end of standard "
                                f"support 2027-03-01, {says}")
    assert all(", read " in line and "https://" in line for line in lines)
    # The title an issue is filed under does not change from day to day.
    assert {n.title for n in found} == {n.title for n in support.notices(END + timedelta(days=90), windows)}


def test_an_end_not_published_is_said_so_whatever_the_day(tmp_path):
    rows = [{**row, "released": date(2020, 1, 1), "end_of_support": None if row["component"] == "istio" else
             date(2040, 1, 1)} for row in ROWS]
    windows = write(tmp_path, rows)
    for today in (date(2020, 6, 1), date(2039, 12, 31)):
        (notice,) = [n for n in support.notices(today, windows) if n.window.component == "istio"]
        assert notice.days_left is None and notice.title.endswith("end of support not published")
        assert "end of support not published: " + rows[0]["note"] in notice.text

"""How long each pin is supported upstream: the vendored table schemas/support-windows.yaml (a row
per component and minor, each with its source and the day it was read) and the notices it gives
on a day: a pin within ``WARNING_DAYS`` of its end of support, past it, or whose end is not
published. ``make preview`` prints them as warning lines and the daily operations workflow opens
an issue for each (tools/ci.py upstream-findings); what to do about each: README "Upstream
warnings". The day is always the caller's, so nothing here depends on the calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from .versions import CERT_MANAGER_VERSION, ISTIO_VERSION, PLATFORM_KUBERNETES_MINORS

TABLE = Path(__file__).resolve().parent.parent / "schemas" / "support-windows.yaml"
# A pin this close to its end of support (or past it) is warned about.
WARNING_DAYS = 60
# How each component's minor is named in a notice, and what its end of support is called.
LABELS = {"istio": "Istio {minor}", "cert-manager": "cert-manager {minor}", "gke": "Kubernetes {minor} on GKE"}
ENDS = {"istio": "end of support", "cert-manager": "end of support", "gke": "end of standard support"}


class SupportTableError(Exception):
    """The table is unreadable, malformed, or lacks a pin's row: one line per problem."""


class Window(BaseModel):
    """One row of the table."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    component: Literal["istio", "cert-manager", "gke"]
    minor: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+$")]
    released: date
    end_of_support: date | None
    """None: not published yet (``note`` says on what it depends)."""
    source: Annotated[str, StringConstraints(pattern=r"^https://\S+$")]
    read: date
    """The day the row was read from ``source``."""
    note: Annotated[str, StringConstraints(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end_of_support is not None and self.end_of_support <= self.released:
            raise ValueError(f"end_of_support {self.end_of_support} is not after released {self.released}")
        return self

    @property
    def label(self) -> str:
        return LABELS[self.component].format(minor=self.minor)


def minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def pins() -> list[tuple[str, str]]:
    """(component, minor) of every pin the table must hold: Istio, cert-manager, and each
    Kubernetes minor GKE may run the cluster on (the range the program holds it inside)."""
    return [("istio", minor(ISTIO_VERSION)), ("cert-manager", minor(CERT_MANAGER_VERSION)),
            *(("gke", kubernetes) for kubernetes in PLATFORM_KUBERNETES_MINORS)]


def load(path: Path = TABLE) -> dict[tuple[str, str], Window]:
    """Every row, by (component, minor)."""
    try:
        rows = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SupportTableError(f"{path.name}: cannot read it: {err}") from None
    if not isinstance(rows, list):
        raise SupportTableError(f"{path.name}: expected a list of rows")
    problems, windows = [], {}
    for index, row in enumerate(rows):
        try:
            window = Window.model_validate(row)
        except ValidationError as err:
            for e in err.errors():
                where, message = ".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")
                problems.append(f"{path.name} row {index + 1}: {where + ': ' if where else ''}{message}")
            continue
        key = (window.component, window.minor)
        if key in windows:
            problems.append(f"{path.name} row {index + 1}: a second row for {window.label}")
        windows[key] = window
    if problems:
        raise SupportTableError("\n".join(problems))
    return windows


def pinned(windows: dict[tuple[str, str], Window] | None = None) -> list[Window]:
    """The row of each pin, in ``pins()`` order; a pin without one is an error."""
    windows = load() if windows is None else windows
    missing = [f"{TABLE.name}: no row for {LABELS[c].format(minor=m)} (component {c}, minor {m!r})"
               for c, m in pins() if (c, m) not in windows]
    if missing:
        raise SupportTableError("\n".join(missing))
    return [windows[pin] for pin in pins()]


@dataclass(frozen=True)
class Notice:
    """A pin whose support ends within ``WARNING_DAYS`` of a day, has ended, or has no published end."""

    window: Window
    days_left: int | None
    """Days from the day asked about to the end of support (negative: past); None: not published."""

    @property
    def title(self) -> str:
        """Stable while the row does not change: the issue a finding is filed under."""
        end = ENDS[self.window.component]
        when = "not published" if self.window.end_of_support is None else str(self.window.end_of_support)
        return f"{self.window.label} {end} {when}"

    @property
    def text(self) -> str:
        w, end = self.window, ENDS[self.window.component]
        if self.days_left is None:
            said = f"{end} not published: {w.note}"
        elif self.days_left >= 0:
            said = f"{end} {w.end_of_support}, in {self.days_left} days ({w.note})"
        else:
            said = f"{end} {w.end_of_support}, {-self.days_left} days ago ({w.note})"
        return f"{w.label}: {said}; {w.source}, read {w.read}"


def notices(today: date, windows: dict[tuple[str, str], Window] | None = None) -> list[Notice]:
    found = []
    for window in pinned(windows):
        if window.end_of_support is None:
            found.append(Notice(window, None))
        elif (days := (window.end_of_support - today).days) <= WARNING_DAYS:
            found.append(Notice(window, days))
    return found


def warnings(today: date, windows: dict[tuple[str, str], Window] | None = None) -> list[str]:
    """One line per pin near, past or without its end of support on ``today``."""
    return [notice.text for notice in notices(today, windows)]

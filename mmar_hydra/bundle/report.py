"""What a conversion could not carry over, or changed: ``conversion_report.md`` and the console.

Nothing is dropped silently. Each item says where it was in the MMAR (file and JSON path),
what happened and why, in one of four kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ReportItem", "ConversionReport", "KINDS"]

# kind -> heading in the report, in this order
KINDS = {
    "code": "Needed allow_code (custom code the bundle runs unconditionally)",
    "dropped": "Not converted (no bundle equivalent)",
    "changed": "Translated differently",
    "info": "Notes",
}


@dataclass(frozen=True)
class ReportItem:
    kind: str
    where: str
    what: str

    def line(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what


@dataclass
class ConversionReport:
    """Items collected while converting one MMAR."""

    source: str = ""
    items: list[ReportItem] = field(default_factory=list)

    def add(self, kind: str, where: str, what: str) -> None:
        item = ReportItem(kind, where, what)
        if kind not in KINDS:
            raise ValueError(f"unknown report kind {kind!r}")
        if item not in self.items:
            self.items.append(item)

    def of(self, kind: str) -> list[ReportItem]:
        return [i for i in self.items if i.kind == kind]

    def console_lines(self) -> list[str]:
        """One ``bundle: <kind>: ...`` line per item that needs the user's attention."""
        return [f"bundle: {i.kind}: {i.line()}" for i in self.items if i.kind != "info"]

    def markdown(self) -> str:
        lines = ["# Conversion report", ""]
        if self.source:
            lines += [f"Converted from the MMAR `{self.source}` by mmar_hydra.", ""]
        for kind, heading in KINDS.items():
            items = self.of(kind)
            lines += [f"## {heading}", ""]
            lines += [f"- {i.line()}" for i in items] or ["- none"]
            lines.append("")
        return "\n".join(lines)

"""Live training curves: follow the trainer's JSON-lines events file into Slicer plot nodes.

The trainer (``coin train --events-jsonl PATH``) appends one ``ProgressEvent`` JSON object per line
(stage "classifier" / "gan" for steps, "classifier_validation" / "gan_validation" per epoch, with
numbers in ``metrics``). ``EventsFollower`` reads only complete new lines, so it can poll a file
that is being written. ``TrainingPlot`` keeps one table node per stage (column "step" plus one per
metric) and one plot series per metric, shown in two chart nodes: losses and validation metrics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: metric keys that are bookkeeping, not curves
NOT_PLOTTED = {"epoch", "step", "eta_s", "steps_per_s", "outputs"}


class EventsFollower:
    """Incremental reader of a JSON-lines file that another process appends to."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def readNew(self) -> list[dict[str, Any]]:
        """The events completed since the last call (none while the file does not exist)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next call
        events = []
        for line in lines:
            try:
                event = json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(event, dict) and "stage" in event:
                events.append(event)
        return events


def curveValues(event: dict[str, Any]) -> dict[str, float]:
    """The plottable numbers of one event (finite floats, bookkeeping keys dropped)."""
    values = {}
    for key, value in (event.get("metrics") or {}).items():
        if key in NOT_PLOTTED or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(float(value)):
            values[key] = float(value)
    return values


class TrainingPlot:
    """Table, series and chart nodes for one training run, updated from events."""

    def __init__(self, scene, runName: str) -> None:
        self.scene = scene
        self.runName = runName
        self.lossChart = self._node("vtkMRMLPlotChartNode", f"{runName} losses")
        self.lossChart.SetXAxisTitle("step")
        self.lossChart.SetYAxisTitle("loss")
        self.validationChart = self._node("vtkMRMLPlotChartNode", f"{runName} validation")
        self.validationChart.SetXAxisTitle("step")
        self.validationChart.SetYAxisTitle("metric")
        self._tables: dict[str, Any] = {}
        self._series: dict[tuple[str, str], Any] = {}
        self.latestValidation: dict[str, float] = {}

    def _node(self, className: str, name: str):
        node = self.scene.GetFirstNode(name, className)
        return node if node is not None else self.scene.AddNewNodeByClass(className, name)

    def addEvents(self, events: list[dict[str, Any]]) -> int:
        """Append the events' numbers to the curves; returns how many rows were added."""
        rows = 0
        for event in events:
            values = curveValues(event)
            step = (event.get("metrics") or {}).get("step", event.get("done"))
            if not values or step is None:
                continue
            stage = str(event.get("stage"))
            self._appendRow(stage, float(step), values)
            if stage.endswith("validation"):
                self.latestValidation = {"epoch": (event.get("metrics") or {}).get("epoch"), **values}
            rows += 1
        return rows

    def _table(self, stage: str):
        if stage not in self._tables:
            table = self._node("vtkMRMLTableNode", f"{self.runName} {stage}")
            import vtk

            table.RemoveAllColumns()
            step = vtk.vtkDoubleArray()
            step.SetName("step")
            table.AddColumn(step)
            self._tables[stage] = table
        return self._tables[stage]

    def _appendRow(self, stage: str, step: float, values: dict[str, float]) -> None:
        import vtk

        tableNode = self._table(stage)
        table = tableNode.GetTable()
        for key in values:
            if table.GetColumnByName(key) is None:
                column = vtk.vtkDoubleArray()
                column.SetName(key)
                column.SetNumberOfTuples(table.GetNumberOfRows())
                column.Fill(math.nan)
                table.AddColumn(column)
                self._addSeries(stage, key, tableNode)
        row = table.InsertNextBlankRow(math.nan)
        table.SetValueByName(row, "step", step)
        for key, value in values.items():
            table.SetValueByName(row, key, value)
        table.Modified()
        tableNode.Modified()

    def _addSeries(self, stage: str, key: str, tableNode) -> None:
        import slicer

        series = self._node("vtkMRMLPlotSeriesNode", f"{self.runName} {stage} {key}")
        series.SetAndObserveTableNodeID(tableNode.GetID())
        series.SetXColumnName("step")
        series.SetYColumnName(key)
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
        chart = self.validationChart if stage.endswith("validation") else self.lossChart
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
        self._series[(stage, key)] = series

    def seriesNames(self) -> list[str]:
        return sorted(f"{stage} {key}" for stage, key in self._series)

    def column(self, stage: str, key: str) -> list[float]:
        """The values of one curve (for tests and summaries)."""
        table = self._tables[stage].GetTable()
        array = table.GetColumnByName(key)
        return [array.GetValue(i) for i in range(table.GetNumberOfRows())]

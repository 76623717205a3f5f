"""Stand-ins for the few Qt pieces the COIN widgets touch, because Qt/PythonQt cannot run here.

These are NOT tests of Qt behaviour: they let the widgets' own Python (state machine, button texts,
progress, error reporting, calls into the real logic) run against the real logic and scene. What
Qt itself does (layout, .ui loading, parameter-node binding) is only checked in desktop Slicer.
"""

from __future__ import annotations

import types


class FakeSignal:
    def __init__(self) -> None:
        self.slots = []

    def connect(self, slot) -> None:
        self.slots.append(slot)

    def emit(self, *args) -> None:
        for slot in list(self.slots):
            slot(*args)


class FakeWidget:
    """Any widget: settable properties plus the signals the COIN widgets connect to."""

    def __init__(self, **props) -> None:
        self.text, self.enabled, self.toolTip, self.visible = "", True, "", True
        self.clicked, self.valueChanged = FakeSignal(), FakeSignal()
        self.currentIndexChanged, self.currentPathChanged = FakeSignal(), FakeSignal()
        self.maximum, self.value, self.segmentationNode, self.mrmlTableNode = 100, 0, None, None
        self.__dict__.update(props)

    def setMaximum(self, value) -> None:
        self.maximum = value

    def setValue(self, value) -> None:
        self.value = value

    def setSegmentationNode(self, node) -> None:
        self.segmentationNode = node

    def setMRMLTableNode(self, node) -> None:
        self.mrmlTableNode = node


class FakeComboBox(FakeWidget):
    def __init__(self, **props) -> None:
        super().__init__(**props)
        self.items: list[list] = []
        self.currentIndex = -1
        self._blocked = False

    @property
    def count(self) -> int:
        return len(self.items)

    def addItem(self, text, data=None) -> None:
        self.items.append([text, data, None])

    def itemData(self, index, role=None):
        return self.items[index][2 if role is not None else 1] if 0 <= index < len(self.items) else None

    def setItemData(self, index, value, role=None) -> None:
        self.items[index][2] = value

    def clear(self) -> None:
        self.items, self.currentIndex = [], -1

    def blockSignals(self, block: bool) -> bool:
        old, self._blocked = self._blocked, block
        return old

    def setCurrentIndex(self, index: int) -> None:
        self.currentIndex = index
        if not self._blocked:
            self.currentIndexChanged.emit(index)


class FakeSegmentSelector(FakeWidget):
    """qMRMLSegmentSelectorWidget with multiSelection: a segmentation node and its checked segment IDs."""

    def __init__(self, **props) -> None:
        super().__init__(**props)
        self.node, self.selected, self._blocked = None, [], False
        self.signals = {"currentNodeChanged(vtkMRMLNode*)": FakeSignal(),
                        "segmentSelectionChanged(QStringList)": FakeSignal()}  # fmt: skip

    def connect(self, signature: str, slot) -> None:
        self.signals[signature].connect(slot)

    def blockSignals(self, block: bool) -> bool:
        old, self._blocked = self._blocked, block
        return old

    def currentNode(self):
        return self.node

    def selectedSegmentIDs(self) -> list:
        return list(self.selected)

    def setCurrentNode(self, node) -> None:
        if node is not self.node:
            self.node, self.selected = node, []
            if not self._blocked:
                self.signals["currentNodeChanged(vtkMRMLNode*)"].emit(node)

    def setSelectedSegmentIDs(self, ids) -> None:
        segmentation = self.node.GetSegmentation() if self.node is not None else None
        self.selected = [i for i in ids if segmentation is not None and segmentation.GetSegment(i)]
        if not self._blocked:
            self.signals["segmentSelectionChanged(QStringList)"].emit(list(self.selected))


class FakeTimer:
    @staticmethod
    def singleShot(ms, callback) -> None:  # no event loop here: run at once
        callback()

    def __init__(self) -> None:
        self.timeout, self.active = FakeSignal(), False

    def setInterval(self, ms) -> None:
        pass

    def setSingleShot(self, single) -> None:
        pass

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False


class FakeSettings:
    store: dict = {}

    def value(self, key, default=None):
        return self.store.get(key, default)

    def setValue(self, key, value) -> None:
        self.store[key] = value


def fake_qt_module(existing_directory: str = "", save_file: str = "") -> types.ModuleType:
    module = types.ModuleType("qt")
    module.QTimer = FakeTimer
    module.QSettings = FakeSettings
    module.QFileDialog = types.SimpleNamespace(
        getExistingDirectory=lambda *a: existing_directory, getSaveFileName=lambda *a: save_file
    )
    module.Qt = types.SimpleNamespace(ToolTipRole=3)
    return module


class FakeParameterNode:
    """The parameter node's fields as attributes; observers fire on ``Modified()``."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)
        self._observers: dict[int, object] = {}

    def connectGui(self, ui) -> str:
        return "gui"

    def disconnectGui(self, tag) -> None:
        pass

    def AddObserver(self, event, callback, priority=0.0) -> int:
        tag = len(self._observers) + 1
        self._observers[tag] = callback
        return tag

    def RemoveObserver(self, tag) -> None:
        self._observers.pop(tag, None)

    def Modified(self) -> None:
        for callback in list(self._observers.values()):
            callback(self, "ModifiedEvent")

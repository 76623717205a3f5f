"""Draw a MOCK-UP of the two Slicer panels from their .ui files with Pillow (no Qt on our machines).

Usage: python Testing/slicer_ext/render_panel_mockup.py [OUT.png]
(default: docs/images/slicer_panel_mockup.png)

Every widget of the .ui is drawn in document order as a simple shape with its text, so the picture
shows what the panel contains and in which order; it is not a screenshot of Slicer.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
WIDTH, ROW, PAD = 420, 30, 10
BG, FG, FRAME, ACCENT = (243, 243, 243), (30, 30, 30), (170, 170, 170), (52, 120, 200)

# what a user would see in a running session (sample values for the picture only)
SAMPLE = {
    "inputVolumeSelector": "CT abdomen (oblique)",
    "modelComboBox": "demo: DemoModel",
    "outputSegmentationSelector": "Create new on each run",
    "hostSegmentSelector": ("organs", "kidney_left, kidney_right"),
    "applyButton": "Cancel",
    "progressBar": 0.45,
    "statusLabel": "counterfactual: 18 of 40 slices (about 0:42 left)",
    "volumesCheckableComboBox": "CT case 1, CT case 2",
    "sliceLabelTableSelector": "None",
    "dataFolderPathLineEdit": "~/data/Dataset001_Kidney",
    "runFolderPathLineEdit": "~/coin-runs/kidney-v1",
    "hostLineEdit": "kidney",
    "presetComboBox": "small",
    "thresholdSlider": 0.25,
    "marginSpinBox": 2.0,
    "postprocessComboBox": "paper",
    "startButton": "Stop",
    "metricsLabel": "Validation: val/auc 0.91, val/cv 0.83",
}
TRAINING_SAMPLE = {"statusLabel": "gan: GAN epoch 3, step 240/600", "progressBar": 0.4}


def _font(size: int = 13):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _text(widget) -> str:
    for prop in widget.findall("property"):
        if prop.get("name") == "text":
            return prop.findtext("string") or ""
    return ""


def _prop(widget, name: str) -> str | None:
    for prop in widget.findall("property"):
        if prop.get("name") == name:
            return next((child.text for child in prop), None)
    return None


class Panel:
    def __init__(self, title: str) -> None:
        self.rows: list[tuple[str, object, str]] = []  # (kind, payload, widget name)
        self.title = title

    def walk(self, element, label: str = "") -> None:
        for item in element:
            if item.tag in ("layout", "item"):
                self.walk(item)
            elif item.tag == "widget":
                self._widget(item)

    def _widget(self, widget) -> None:
        cls, name = widget.get("class"), widget.get("name")
        if cls == "ctkCollapsibleButton":
            self.rows.append(("section", _text(widget), name))
            self.walk(widget)
        elif cls == "QLabel" and name.endswith("Label") and name not in ("statusLabel", "metricsLabel"):
            self.rows.append(("label", _text(widget), name))
        else:
            self.rows.append((cls, widget, name))


def _control(draw, x, y, w, cls, widget, name, font, samples) -> None:
    sample = samples.get(name)
    h = ROW - 8
    if cls in ("qMRMLNodeComboBox", "qMRMLCheckableNodeComboBox", "QComboBox"):
        items = [i.findtext("property/string") for i in widget.findall("item")]
        text = sample or (items[0] if items else "")
        draw.rectangle((x, y, x + w, y + h), fill="white", outline=FRAME)
        draw.text((x + 6, y + 3), text, fill=FG, font=font)
        draw.polygon([(x + w - 16, y + 8), (x + w - 6, y + 8), (x + w - 11, y + 14)], fill=FG)
    elif cls == "qMRMLSegmentSelectorWidget":  # horizontal: segmentation combo, checkable segment combo
        first = (w - 6) * 2 // 7
        for left, right, text in zip(
            (x, x + first + 6), (x + first, x + w), sample or ("None", ""), strict=True
        ):
            draw.rectangle((left, y, right, y + h), fill="white", outline=FRAME)
            draw.text((left + 6, y + 3), text, fill=FG, font=font)
            draw.polygon([(right - 16, y + 8), (right - 6, y + 8), (right - 11, y + 14)], fill=FG)
    elif cls in ("QPushButton", "qMRMLSegmentationShow3DButton"):
        text = sample or _text(widget)
        primary = name in ("applyButton", "startButton")
        draw.rounded_rectangle((x, y, x + w, y + h), radius=4, fill=ACCENT if primary else (225, 225, 225),
                               outline=FRAME)  # fmt: skip
        tw = draw.textlength(text, font=font)
        draw.text((x + (w - tw) / 2, y + 3), text, fill="white" if primary else FG, font=font)
    elif cls == "QCheckBox":
        draw.rectangle((x, y + 4, x + 14, y + 18), fill="white", outline=FRAME)
        if _prop(widget, "checked") == "true":
            draw.line([(x + 3, y + 11), (x + 6, y + 15), (x + 12, y + 6)], fill=ACCENT, width=2)
        draw.text((x + 22, y + 3), _text(widget), fill=FG, font=font)
    elif cls == "ctkSliderWidget":
        value = float(sample if sample is not None else _prop(widget, "value") or 0)
        draw.line([(x, y + h / 2), (x + w - 70, y + h / 2)], fill=FRAME, width=4)
        hx = x + (w - 70) * value
        draw.ellipse((hx - 7, y + h / 2 - 7, hx + 7, y + h / 2 + 7), fill=ACCENT)
        draw.rectangle((x + w - 60, y, x + w, y + h), fill="white", outline=FRAME)
        draw.text((x + w - 54, y + 3), f"{value:.2f}", fill=FG, font=font)
    elif cls == "QDoubleSpinBox":
        value = float(sample if sample is not None else _prop(widget, "value") or 0)
        text = f"{value:.{int(_prop(widget, 'decimals') or 2)}f}{_prop(widget, 'suffix') or ''}"
        draw.rectangle((x, y, x + 90, y + h), fill="white", outline=FRAME)
        draw.text((x + 6, y + 3), text, fill=FG, font=font)
        for dy, tip in ((2, 8), (h - 2, h - 8)):  # the up / down arrows
            draw.polygon([(x + 76, y + tip), (x + 86, y + tip), (x + 81, y + dy)], fill=FG)
    elif cls == "QProgressBar":
        fraction = float(sample or 0)
        draw.rectangle((x, y, x + w, y + h), fill="white", outline=FRAME)
        draw.rectangle((x + 1, y + 1, x + 1 + (w - 2) * fraction, y + h - 1), fill=(90, 170, 90))
        draw.text((x + w / 2 - 12, y + 3), f"{fraction:.0%}", fill=FG, font=font)
    elif cls in ("ctkPathLineEdit", "QLineEdit"):
        draw.rectangle((x, y, x + w, y + h), fill="white", outline=FRAME)
        draw.text((x + 6, y + 3), sample or "", fill=FG, font=font)
        if cls == "ctkPathLineEdit":
            draw.rectangle((x + w - 24, y, x + w, y + h), fill=(225, 225, 225), outline=FRAME)
            draw.text((x + w - 18, y + 2), "...", fill=FG, font=font)
    elif cls == "QLabel":
        draw.text((x, y + 3), sample or _text(widget), fill=(60, 60, 60), font=font)


def render_panel(module: str) -> tuple[Image.Image, list[str]]:
    """The mock-up of one module's panel, and the names of the widgets drawn."""
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    panel = Panel(module)
    panel.walk(tree.getroot().find("widget"))
    rows = [r for r in panel.rows if r[0] not in ("QWidget",)]
    samples = {**SAMPLE, **(TRAINING_SAMPLE if module == "COINTraining" else {})}
    font, bold = _font(13), _font(15)
    height = 60 + ROW * len(rows)
    img = Image.new("RGB", (WIDTH, height), BG)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, WIDTH, 34), fill=(60, 64, 72))
    draw.text((PAD, 8), module.replace("COIN", "COIN "), fill="white", font=bold)
    y, label, drawn = 44, "", []
    for kind, payload, name in rows:
        if kind == "section":
            draw.rectangle((PAD, y, WIDTH - PAD, y + ROW - 6), fill=(215, 218, 224))
            draw.text((PAD + 6, y + 4), f"\u25bc {payload}", fill=FG, font=font)
            y += ROW
        elif kind == "label":
            label = payload
            drawn.append(name)
            continue
        else:
            x = PAD + 6
            if label:
                draw.text((x, y + 3), label, fill=FG, font=font)
                x = PAD + 115
            _control(draw, x, y, WIDTH - PAD - x, kind, payload, name, font, samples)
            label = ""
            y += ROW
        drawn.append(name)
    return img.crop((0, 0, WIDTH, y + PAD)), drawn


def render_all(out: Path) -> Path:
    """Both panels side by side, labelled as a mock-up."""
    panels = [render_panel(m)[0] for m in ("COINSegmentation", "COINTraining")]
    banner = 46
    canvas = Image.new(
        "RGB", (sum(p.width for p in panels) + 30, max(p.height for p in panels) + banner + 10), "white"
    )
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 8), "MOCK-UP drawn from the .ui files with Pillow (not a screenshot of 3D Slicer)",
              fill=(180, 30, 30), font=_font(15))  # fmt: skip
    draw.text(
        (10, 26),
        "sample values; left: a COIN run in progress, right: a training run",
        fill=FG,
        font=_font(12),
    )
    x = 10
    for panel in panels:
        canvas.paste(panel, (x, banner))
        x += panel.width + 10
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "slicer_panel_mockup.png"
    print(render_all(target))

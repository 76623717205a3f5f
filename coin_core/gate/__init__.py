"""The anatomy gate: which slices look like the slices a model was trained on (docs/anatomy_gate.md).

A COIN classifier trained on kidney slices answers on any slice, and on the shoulders it answers
"abnormal" with confidence; the counterfactual then "removes" bone and contrast-filled veins. The
gate measures, for every slice, a distance to the training slices in the classifier's own features
and lets :func:`coin_core.infer.segment_volume` skip the slices that lie outside.

* :mod:`coin_core.gate.stats`: the statistic (:class:`AnatomyGate`) and its fit from feature arrays;
* :mod:`coin_core.gate.features`: the classifier features of slice arrays;
* :mod:`coin_core.gate.store`: ``gate.safetensors`` and the card's ``anatomy_gate`` section;
* :mod:`coin_core.gate.fit`: fitting a model folder's gate on its slice set (``coin model fit-gate``,
  end of ``coin train``).
"""

from coin_core.gate.stats import DEFAULT_LAYERS, DEFAULT_MARGIN, DEFAULT_QUANTILE, AnatomyGate

__all__ = ["DEFAULT_LAYERS", "DEFAULT_MARGIN", "DEFAULT_QUANTILE", "AnatomyGate"]

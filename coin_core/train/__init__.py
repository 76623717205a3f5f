"""Training: the classifier fit, the COIN / Singla* GAN fit, checkpoints, events, DDP helpers.

Importing this package does not import torch; the submodules do. Entry points:

* :func:`coin_core.train.classifier.fit_classifier` -> a classifier folder;
* :func:`coin_core.train.gan.fit_gan` -> trained E, G (and D) with resumable checkpoints;
* :func:`coin_core.train.pipeline.train_model` -> both, ending with a model folder ``RUN/model``.
"""

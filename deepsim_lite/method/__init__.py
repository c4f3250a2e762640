"""Layer 2, the method: TPS warps (Sec. 3.2), augmentation, pix2pixHD networks and losses (Sec. 3.1, 3.3),
the training configuration and presets, training (:mod:`.step`, :mod:`.train`, :mod:`.checkpoints`), the
trained model, run folders, the model cache, and the pictures training previews draw (:mod:`.viz`).
Imports only :mod:`deepsim_lite.primitives` and the plumbing below it.
"""

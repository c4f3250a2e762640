"""Bottom layer: ImageNet backbones (VGG19, ResNet50, AlexNet, Inception) and where their weights come from.

Imports nothing of deepsim_lite but the plumbing (``_io``). See :mod:`.backbones`.
"""

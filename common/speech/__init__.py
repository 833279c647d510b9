"""Speech: readers of the Kaggle speech layouts (``io``), the HW1 frame store (``frames``),
SpecAugment (``specaugment``) and decoders (``decoding``). Import the submodules directly."""

"""Demo data in the exact Kaggle layouts: ``common.demo.speech`` (HW1P2, HW3P2, HW4P2) and
``common.demo.faces`` (HW2P2). Import the submodules directly."""

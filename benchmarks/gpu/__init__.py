"""Parts of ``benchmarks/gpu_suite.py``: the notebooks' default models on synthetic tensors of the
real shapes (``notebooks``), the goals of the other benchmarks (``goals``), the table (``table``)."""

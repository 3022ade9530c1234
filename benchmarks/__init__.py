"""Performance benchmarks (issue 7): ``python -m benchmarks`` or ``make bench``.

Every figure is a ratio of two things measured side by side in one process,
interleaved (A B A B ..., several rounds, medians), so a busy shared machine
slows both sides alike. Never collected by pytest.
"""

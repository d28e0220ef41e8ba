"""The CPU demo: the tiny randomly initialised Rex-Omni, the synthetic toy data and the quickstart report.

Not used by the product code paths; tools/make_tiny_model.py, tools/make_toy_data.py and
tools/quickstart_report.py are their command lines.
"""

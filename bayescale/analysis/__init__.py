"""Analysis of fitted posteriors: loss bands, compute-optimal allocations, budget decisions.

Modules: :mod:`bayescale.analysis.predict` (bands), :mod:`bayescale.analysis.allocate`
(compute-optimal N, D per budget), :mod:`bayescale.analysis.decide` (comparing candidate
allocations by expected loss, probability of being best and regret) and
:mod:`bayescale.analysis.compare` (model comparison).
"""

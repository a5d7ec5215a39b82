"""Every docstring example of the package runs and prints what it says (numpy-style ``Examples``).

One test per module, so a failure names the module; the doctest report names the example.
Modules that import torch at the top need the runner extra (like the runner's own tests).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import bayescale

#: Every module but ``__main__`` (importing it runs the command line).
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(bayescale.__path__, "bayescale.")
    if m.name != "bayescale.__main__"
)
#: Modules whose top level imports torch (the runner extra).
NEEDS_TORCH = {"bayescale.runner.model"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_the_module_list_is_the_package():
    assert "bayescale.intervals" in MODULES and "bayescale.runner.trainer" in MODULES
    assert set(MODULES) >= NEEDS_TORCH


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in NEEDS_TORCH and importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch (the runner extra)")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (above)"


def test_a_wrong_example_fails():
    # the harness itself: an example that prints something else is a failure
    def wrong() -> None:
        """
        >>> 1 + 1
        3
        """

    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(wrong, "wrong", globs={}):
        runner.run(test, out=lambda _: None)
    assert runner.summarize(verbose=False).failed == 1

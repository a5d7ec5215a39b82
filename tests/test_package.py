import subprocess
import sys

import bayescale as bs


def test_import_and_help_do_not_import_pymc_or_torch():
    code = (
        "import sys, bayescale, bayescale.cli as c; c.build_parser();"
        "bad=[m for m in ('pymc','pytensor','torch','arviz','pandas') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve():
    for name in bs.__all__:
        assert getattr(bs, name) is not None
    assert bs.__version__.count(".") == 2

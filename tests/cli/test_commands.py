from bayescale.cli import build_parser

DESIGN_COMMANDS = {
    "demo",
    "datasets",
    "fit",
    "summary",
    "predict",
    "allocate",
    "decide",
    "plan",
    "compare",
    "backtest",
    "report",
    "run",
}


def test_every_design_command_is_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == DESIGN_COMMANDS


def test_no_command_prints_help_and_exits_2(capsys):
    from bayescale.cli import main

    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out

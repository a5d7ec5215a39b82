"""``bayescale datasets``: the registry of published and bundled tables."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` subcommand group."""
    p = sub.add_parser("datasets", help="list, show and locate registered datasets")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    q = dsub.add_parser("list", help="a table of every registered dataset")
    q.set_defaults(func=run_list)
    q = dsub.add_parser("show", help="provenance, columns and checksums of a dataset")
    q.add_argument("name")
    q.set_defaults(func=run_show)
    q = dsub.add_parser("path", help="local, checksum-verified path(s) of a dataset's files")
    q.add_argument("name")
    q.set_defaults(func=run_path)


def run_list(args: argparse.Namespace) -> int:
    """Handle ``bayescale datasets list``."""
    from bayescale.data.registry import list_datasets

    table = list_datasets()
    cols = ["name", "kind", "rows", "params_kind", "license", "cached"]
    print(table[cols].to_string(index=False))
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Handle ``bayescale datasets show NAME``."""
    from bayescale.data.registry import get_data_home, get_entry

    e = get_entry(args.name)
    print(f"{e.name}  ({e.kind}, {e.rows} rows)")
    print(f"  {e.description}")
    for label, value in [
        ("citation", e.citation),
        ("source", e.source),
        ("locator", e.locator),
        ("extraction", e.extraction),
        ("license", e.license),
        ("params_kind", e.params_kind),
        ("loss_unit", e.loss_unit),
    ]:
        if value:
            print(f"  {label + ':':12} {value}")
    if e.units:
        print("  units:")
        for k, v in e.units.items():
            print(f"    {k}: {v}")
    if e.columns:
        print("  columns (run-table <- upstream):")
        for k, v in e.columns.items():
            print(f"    {k} <- {v}")
    for key, value in e.extra.items():
        if isinstance(value, list):
            print(f"  {key} ({len(value)}):")
            for item in value:
                if isinstance(item, dict):  # e.g. porian2024's configurations
                    item = "; ".join(f"{k} = {v}" for k, v in item.items())
                print(f"    - {item}")
        else:
            print(f"  {key}: {value}")
    print("  files:")
    for f in e.files:
        where = "bundled" if f.bundled else str(get_data_home() / f.path)
        print(f"    {f.path}\n      sha256 {f.sha256}\n      {f.url or where}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    """Handle ``bayescale datasets path NAME``."""
    from bayescale.data.registry import dataset_path

    for p in dataset_path(args.name):
        print(p)
    return 0

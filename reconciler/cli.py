"""`kuscia-reconciler`: `run` the controller against a cluster, or `render`
what a task would produce, offline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.settings import LeaderSettings, ServerSettings, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kuscia-reconciler",
        description="Gives Kuscia's AppImage and KusciaTask resources their behaviour.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the controller")
    run.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, else ~/.kube/config)"
    )
    run.add_argument("--context", help="kubeconfig context")
    run.add_argument("--namespace", help="watch KusciaTasks in this namespace only (default: all)")
    run.add_argument("--workers", type=int, default=Settings.workers, help="concurrent reconciles")
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="campaign for a Lease; only the leader reconciles",
    )
    run.add_argument("--leader-election-namespace", default=LeaderSettings.namespace)
    run.add_argument("--leader-election-id", default=LeaderSettings.lease_name, help="Lease name")
    run.add_argument(
        "--metrics-bind-address", default=ServerSettings.metrics_address, help='"0" turns it off'
    )
    run.add_argument("--health-probe-bind-address", default=ServerSettings.health_address)
    run.add_argument("--log-format", choices=["json", "console"], default="console")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    run.add_argument(
        "--keep-finished", action="store_true", help="keep Pods and ConfigMaps of finished tasks"
    )

    render = commands.add_parser("render", help="print the objects a task would produce (offline)")
    render.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        type=Path,
        required=True,
        help="AppImage and KusciaTask YAML files (repeatable)",
    )
    render.add_argument(
        "--namespaces", help="comma-separated namespaces that exist (default: every party's)"
    )
    render.add_argument("--partners", default="", help="comma-separated partner namespaces")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.workers < 1:
        raise SystemExit("kuscia-reconciler: --workers must be at least 1")
    return Settings(
        namespace=args.namespace,
        workers=args.workers,
        keep_finished=args.keep_finished,
        leader=LeaderSettings(
            enabled=args.leader_elect,
            namespace=args.leader_election_namespace,
            lease_name=args.leader_election_id,
        ),
        server=ServerSettings(
            metrics_address=args.metrics_bind_address,
            health_address=args.health_probe_bind_address,
        ),
    )


async def _run(args: argparse.Namespace) -> None:
    from reconciler.controller import Controller
    from reconciler.kube import load_api_client

    api = await load_api_client(args.kubeconfig, args.context)
    async with api:
        await Controller(api, _settings(args)).run(handle_signals=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "render":
        from reconciler.render_command import run_render

        namespaces = args.namespaces.split(",") if args.namespaces else None
        partners = [p for p in args.partners.split(",") if p]
        return run_render(args.files, namespaces, partners)

    import anyio

    from reconciler import logs
    from reconciler.controller import LeadershipLost

    logs.configure(args.log_format, args.log_level)
    try:
        anyio.run(_run, args)
    except LeadershipLost:
        print("kuscia-reconciler: leadership lost; exiting", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

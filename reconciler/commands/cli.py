"""`kuscia-reconciler`: `run` the controller against a cluster, `render`
what a task would produce, offline, or `sign` AppImages for `--image-verify-key`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler import signing
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
    run.add_argument(
        "--controller-namespace",
        default=os.environ.get("POD_NAMESPACE") or None,
        help="the namespace the controller runs in, never a Kuscia domain "
        "(default: $POD_NAMESPACE)",
    )
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
    run.add_argument(
        "--image-verify-key",
        dest="image_verify_keys",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="PEM file of Ed25519 public keys (one or more; repeatable). With it, an AppImage "
        "whose spec.image.sign no key verifies is invalid and its tasks fail with "
        "ImageSignatureInvalid",
    )

    render = commands.add_parser("render", help="print the objects a task would produce (offline)")
    _files_option(render, "AppImage and KusciaTask YAML files (repeatable)")
    render.add_argument(
        "--namespaces", help="comma-separated namespaces that exist (default: every party's)"
    )
    render.add_argument("--partners", default="", help="comma-separated partner namespaces")

    sign = commands.add_parser(
        "sign",
        help="set spec.image.sign of AppImages in YAML files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Signs every AppImage document of the files for --image-verify-key: sets\n"
            "spec.image.sign to the base64 Ed25519 signature of the UTF-8 bytes of\n"
            "'{name}:{tag}@{id}' (from spec.image; a missing id counts as empty).\n"
            "Only that one value changes; comments, order and every other document\n"
            "are kept as written. Writes to stdout unless -i is given."
        ),
        epilog=(
            "keys:\n"
            "  openssl genpkey -algorithm ed25519 -out private.pem\n"
            "  openssl pkey -in private.pem -pubout -out public.pem\n"
            "  kuscia-reconciler sign --key private.pem -f appimage.yaml -i\n"
            "  kuscia-reconciler run --image-verify-key public.pem"
        ),
    )
    sign.add_argument(
        "--key",
        type=Path,
        required=True,
        metavar="PRIVATE.pem",
        help="unencrypted PEM (PKCS#8) Ed25519 private key",
    )
    _files_option(
        sign, "YAML file with AppImage documents (repeatable; '-' is standard input)", "FILE"
    )
    sign.add_argument(
        "-i",
        "--in-place",
        action="store_true",
        help="rewrite each file instead of printing the result",
    )
    return parser


def _files_option(parser: argparse.ArgumentParser, help: str, metavar: str | None = None) -> None:
    """-f/--file, required and repeatable: the files an offline command reads."""
    parser.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        type=Path,
        required=True,
        metavar=metavar,
        help=help,
    )


def _settings(args: argparse.Namespace) -> Settings:
    if args.workers < 1:
        raise SystemExit("kuscia-reconciler: --workers must be at least 1")
    try:
        verify_keys = signing.load_public_keys(args.image_verify_keys)
    except signing.KeyFileError as error:
        raise SystemExit(f"kuscia-reconciler: --image-verify-key {error}") from None
    return Settings(
        image_verify_keys=verify_keys,
        namespace=args.namespace,
        controller_namespace=args.controller_namespace,
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
    from reconciler.kube import load_connection

    api = await load_connection(args.kubeconfig, args.context)
    async with api:
        await Controller(api, _settings(args)).run(handle_signals=True)


def _only(kind: type[BaseException], error: BaseException) -> bool:
    """Whether `error` is `kind`, or a task group's exception group of nothing else."""
    if isinstance(error, BaseExceptionGroup):
        return all(_only(kind, inner) for inner in error.exceptions)
    return isinstance(error, kind)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "render":
        from reconciler.commands.render import run_render

        namespaces = args.namespaces.split(",") if args.namespaces else None
        partners = [p for p in args.partners.split(",") if p]
        return run_render(args.files, namespaces, partners)
    if args.command == "sign":
        from reconciler.commands.sign import run_sign

        return run_sign(args.key, args.files, in_place=args.in_place)

    import anyio

    from reconciler import logs
    from reconciler.controller import LeadershipLost

    logs.configure(args.log_format, args.log_level)
    try:
        anyio.run(_run, args)
    except KeyboardInterrupt:
        return 0
    except BaseException as error:
        if not _only(LeadershipLost, error):
            raise
        print("kuscia-reconciler: leadership lost; exiting", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

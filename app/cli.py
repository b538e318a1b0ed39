"""The `modelrepo` command: serve, tokens, projections, schema export."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from app.adapters.event_store.port import EventMeta
from app.adapters.object_store.port import ObjectStoreError
from app.adapters.sql.port import DatabaseUnavailable
from app.settings import Settings
from domain.errors import DomainError
from domain.token import Role

if TYPE_CHECKING:
    from app.bootstrap import Container

T = TypeVar("T")
CLI_META = EventMeta(actor="cli")


def _with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    from app.bootstrap import build

    async def run() -> T:
        container = await build(settings)
        try:
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(run())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import create_app
    from app.server import HttpLimits, run

    # Fail fast, with the URL (password masked), before uvicorn starts.
    _with_container(settings, lambda c: asyncio.sleep(0))
    run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        access_log=args.access_log,
        grace_seconds=settings.drain_grace_seconds,
        limits=HttpLimits(
            max_header_bytes=settings.max_header_bytes,
            header_timeout_seconds=settings.header_timeout_seconds,
            body_timeout_seconds=settings.body_timeout_seconds,
            keepalive_timeout_seconds=settings.keepalive_timeout_seconds,
            # A subscription's message is a GraphQL request like a POST's body.
            max_message_bytes=settings.max_request_bytes,
        ),
    )
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.projector import stop

    async def work(c: Container) -> None:
        follower = asyncio.create_task(c.projector.run(settings.projection_poll_seconds))
        try:
            await c.batch_worker.run_forever()
        finally:
            await stop(follower)

    _with_container(settings, work)
    return 0


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    async def work(c: Container) -> str:
        secret, token = await c.tokens.create(args.name, args.role, meta=CLI_META)
        print(f"created {token.role} token {token.name!r} (id {token.id})", file=sys.stderr)
        return secret

    print(_with_container(settings, work))
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(c: Container) -> None:
        for row in await c.tokens.list():
            state = "revoked" if row.revoked else "active"
            print(f"{row.id}  {row.role:<6}  {state:<7}  {row.name}")

    _with_container(settings, work)
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def work(c: Container) -> None:
        await c.tokens.revoke(args.id, meta=CLI_META)

    _with_container(settings, work)
    print(f"revoked {args.id}")
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """With the database and the projector only: the rest of the container is not needed,
    and importing it (pandas, pyarrow, ...) takes a second of the command's time."""
    from app.adapters.databases import open_database
    from app.services.projector import Projector
    from app.services.serialization import EventMapper
    from projections.catalog import all_projections

    async def run() -> int:
        db, store = open_database(settings.resolved_database_url)
        await db.open()
        try:
            await store.setup()
            projector = Projector(db, store, EventMapper(), all_projections())
            await projector.setup()
            return await projector.rebuild(args.only or None)
        finally:
            await store.close()
            await db.close()

    # A rebuild makes millions of short-lived objects without cycles, and the cycle
    # collector's passes over them took a tenth of its time (10k models x 10 versions:
    # ~52 -> ~45 us of CPU an event). This process does nothing else: no passes until
    # it is done.
    gc.disable()
    try:
        position = asyncio.run(run())
    finally:
        gc.enable()
    print(f"rebuilt projections up to position {position}")
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from app.graphql.schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli_import import CliError, run_import

    token = args.token or os.environ.get("MODELREPO_TOKEN", "")
    if not token:
        print("modelrepo: error: give --token or set MODELREPO_TOKEN", file=sys.stderr)
        return 2
    try:
        result = run_import(
            args.source,
            model=args.model,
            model_format=args.format,
            new_version=args.new_version,
            server=args.server,
            token=token,
            runtime=args.runtime,
            framework=args.framework,
            move=args.move,
        )
    except CliError as exc:
        print(f"modelrepo: import failed: {exc}", file=sys.stderr)
        return 1
    version = result["version"]
    print(
        f"{result['model']['name']} {version['name']}: {version['status']}"
        f" ({version['size']} bytes, id {version['id']})"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="modelrepo", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    commands.add_parser(
        "worker", help="schedule and execute batch runs (serve also does, by default)"
    ).set_defaults(run=_worker)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token and print its secret")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--name", default="cli-token")
    create.set_defaults(run=_token_create)
    token.add_parser("list", help="list tokens").set_defaults(run=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    revoke.set_defaults(run=_token_revoke)

    projections = commands.add_parser("projections", help="read models").add_subparsers(
        dest="projections_command", required=True
    )
    rebuild = projections.add_parser("rebuild", help="drop and rebuild read models from the log")
    rebuild.add_argument("--only", nargs="*", help="projection names (default: all)")
    rebuild.set_defaults(run=_rebuild)

    from app.cli_import import default_server

    imports = commands.add_parser(
        "import", help="import a model (a file, a directory, or an s3:// / cos:// URI)"
    )
    imports.add_argument("source", help="a file, a directory, or s3://bucket/prefix")
    imports.add_argument("--model", required=True, help="the model's name")
    imports.add_argument("--format", required=True, help="ONNX, TORCHSCRIPT, PMML, ...")
    imports.add_argument(
        "--new-version", action="store_true", help="add a version to an existing model"
    )
    imports.add_argument("--runtime", help="custom, image:<ref>, or the format's built-in")
    imports.add_argument("--framework")
    imports.add_argument("--move", action="store_true", help="delete the s3 source after")
    imports.add_argument("--server", default=default_server(), help="default $MODELREPO_URL")
    imports.add_argument("--token", help="default $MODELREPO_TOKEN")
    imports.set_defaults(run=_import)

    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=_export_schema
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args, Settings())
    except (DatabaseUnavailable, ObjectStoreError) as exc:
        print(f"modelrepo: error: {exc}", file=sys.stderr)
        return 2
    except (DomainError, ValueError) as exc:
        print(f"modelrepo: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The ``siaga112`` console command."""

from __future__ import annotations

import argparse
import sys

from core.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="siaga112", description="Siaga112 112 call centre")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole local centre in the foreground")
    sub.add_parser("demo-call", help="place a demo 112 call against the running centre")
    sub.add_parser("ensure-root", help="build the Asterisk root (chroot) unless it exists")
    sub.add_parser("migrate", help="bring the database schema up to date")
    cli = sub.add_parser("asterisk", help="run one Asterisk CLI command on the centre's instance")
    cli.add_argument("cli_command", nargs="+")
    args = parser.parse_args(argv)

    if args.command == "run":
        from ops import centre

        return centre.main()
    if args.command == "demo-call":
        from ops import demo

        return demo.main()
    if args.command == "ensure-root":
        from ops import asterisk

        return asterisk.main(["ensure-root"])
    if args.command == "migrate":
        from models.migrate import upgrade

        settings = get_settings()
        if not settings.database_url:
            print("siaga112: set SIAGA_DATABASE_URL", file=sys.stderr)
            return 1
        upgrade(settings.database_url)
        return 0
    from ops.asterisk import AsteriskError, AsteriskInstance

    try:
        print(AsteriskInstance(get_settings()).cli(" ".join(args.cli_command)), end="")
    except AsteriskError as exc:
        print(f"siaga112: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

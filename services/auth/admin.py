"""Operator commands for auth, run where the database is reachable (never offered on the bus):

    python -m services.auth.admin create-admin --email ops@example.com

The password is read from a prompt on a terminal, or as the first line of stdin otherwise
(`printf '%s\\n' "$PASSWORD" | python -m ...`), never from the command line, where other users
and shell history would see it. The account is written by the same domain function as every
other account (argon2id hash, `user_registered` event in the outbox, relayed by the auth service).
"""

import argparse
import getpass
import json
import sys
from typing import Any, TextIO

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from dependencies.postgres import sqlalchemy_url
from kernel.config import load_config
from kernel.errors import DomainError
from services.auth import accounts


def read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        password = getpass.getpass("password for the new admin: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("the passwords differ; nothing was created")
        return password
    return stdin.readline().rstrip("\r\n")


def create_admin(config: dict[str, Any], email: str, password: str) -> dict[str, Any]:
    engine = create_engine(sqlalchemy_url(config["DATABASE_URL"]))
    try:
        with Session(engine) as session, session.begin():
            return accounts.create_admin(
                session, accounts.AuthSettings.from_config(config), email, password
            )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.auth.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create an admin account")
    create.add_argument("--email", required=True)
    args = parser.parse_args(argv)

    password = read_password(sys.stdin)
    try:
        account = create_admin(load_config(), args.email, password)
    except DomainError as error:
        details = "; ".join(f"{e['field']}: {e['message']}" for e in error.errors if "field" in e)
        print(
            f"not created: {error.detail}" + (f" ({details})" if details else ""), file=sys.stderr
        )
        return 1
    print(json.dumps(account))
    return 0


if __name__ == "__main__":
    sys.exit(main())

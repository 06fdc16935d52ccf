"""Insert, update or delete one user in the PostgreSQL table `users`: one change, one line of output.

    python change_users.py insert Ada Mathematician   # a new row; PostgreSQL picks its id
    python change_users.py update 1 Astronaut         # a new profession for the user with id 1
    python change_users.py delete 1                   # the user with id 1 is gone

Each command is one transaction, committed before the line is printed. With Debezium
capturing the table (docs/connect-cdc.md), every committed change becomes a record on
the topic kit.public.users, keyed by the row's id. The table is created on first use.
Needs the PostgreSQL driver: pip install "psycopg[binary]".
"""

import json
import os
import sys
from urllib.parse import urlsplit

import helpers

# `python tools/local_postgres.py start --logical` and the compose file's `postgres` service (profile cdc)
# both have this user and database; the compose one checks the password, the local one (127.0.0.1 only) needs none.
DEFAULT_DB = "postgresql://kit:kit-secret@localhost:5432/postgres"

CREATE_USERS = """
CREATE TABLE IF NOT EXISTS users (
    id          SERIAL PRIMARY KEY,   -- the key of each change record: {"id": 1}
    name        TEXT NOT NULL,
    profession  TEXT
)"""


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Change one row of the PostgreSQL table 'users'.")
    parser.add_argument("--db", default=os.environ.get("KIT_POSTGRES_URL", DEFAULT_DB),
                        help="PostgreSQL URL (env KIT_POSTGRES_URL, default: tools/local_postgres.py's or the compose "
                             "stack's database)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{insert,update,delete}")
    insert = commands.add_parser("insert", help="add a user")
    insert.add_argument("name")
    insert.add_argument("profession")
    update = commands.add_parser("update", help="give a user a new profession")
    update.add_argument("id", type=helpers.positive_int)
    update.add_argument("profession")
    delete = commands.add_parser("delete", help="delete a user")
    delete.add_argument("id", type=helpers.positive_int)
    for sub in (insert, update, delete):
        sub.error = parser.error  # a mistake is one line, as for the main command
    return parser.parse_args(argv)


def safe_url(url):
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@", 1)).geturl()


def change(cursor, args):
    """Apply the command; the changed row as a dict, or None if no row has that id."""
    if args.command == "insert":
        cursor.execute("INSERT INTO users (name, profession) VALUES (%s, %s) RETURNING id, name, profession",
                       (args.name, args.profession))
    elif args.command == "update":
        cursor.execute("UPDATE users SET profession = %s WHERE id = %s RETURNING id, name, profession",
                       (args.profession, args.id))
    else:
        cursor.execute("DELETE FROM users WHERE id = %s RETURNING id, name, profession", (args.id,))
    row = cursor.fetchone()
    return dict(zip(("id", "name", "profession"), row)) if row else None


def main(argv=None):
    args = parse_args(argv)
    if not args.db.startswith(("postgresql://", "postgres://")):
        print(f"error: --db must be a PostgreSQL URL like {safe_url(DEFAULT_DB)}, got {safe_url(args.db)!r}",
              file=sys.stderr)
        return 2
    try:
        import psycopg
    except ImportError:
        print('error: the PostgreSQL driver is missing: pip install "psycopg[binary]"', file=sys.stderr)
        return 1
    try:
        connection = psycopg.connect(args.db, connect_timeout=5)
    except psycopg.Error as error:
        reason = " ".join(str(error).split()).rstrip(".?") or type(error).__name__
        print(f"error: cannot connect to PostgreSQL at {safe_url(args.db)} ({reason}); start it (see "
              f"docs/connect-cdc.md) or pass --db with the right URL", file=sys.stderr)
        return 1
    try:
        with connection:  # one transaction: committed when the block ends without an error
            cursor = connection.cursor()
            cursor.execute(CREATE_USERS)
            row = change(cursor, args)
    except psycopg.Error as error:
        print(f"error: PostgreSQL refused the {args.command}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if row is None:
        print(f"error: no user with id {args.id} in table 'users'; nothing changed", file=sys.stderr)
        return 1
    verb = {"insert": "Inserted", "update": "Updated ", "delete": "Deleted "}[args.command]
    print(f"{verb} user {row['id']:<4} {json.dumps(row, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

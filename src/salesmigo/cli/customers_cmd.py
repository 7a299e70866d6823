"""``salesmigo enrol`` and ``salesmigo customers list|show|delete``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from salesmigo.cli.context import cli_runtime
from salesmigo.cli.output import JsonFlag, console, fail, print_json

# The services (database, gallery, face models) load when a command runs, not for --help.
if TYPE_CHECKING:
    from salesmigo.services.customers import CustomerRecord

app = typer.Typer(help="List, show and erase registered customers.", no_args_is_help=True)


def _as_json(record: CustomerRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "email": record.email,
        "phone": record.phone,
        "date_of_birth": record.date_of_birth.isoformat() if record.date_of_birth else None,
        "location": record.location,
        "consent_given_at": record.consent_given_at.isoformat(),
        "created_at": record.created_at.isoformat(),
        "templates": record.templates,
    }


def _table(records: list[CustomerRecord]) -> Table:
    table = Table("id", "name", "email", "templates", "enrolled")
    for r in records:
        table.add_row(
            str(r.id), r.name, r.email or "", str(r.templates), f"{r.created_at:%Y-%m-%d %H:%M}"
        )
    return table


def enrol(
    photos: Annotated[list[Path], typer.Argument(help="1 to 10 photos, one face each.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    email: Annotated[str, typer.Option(help="E-mail address (unique).")],
    consent: Annotated[
        bool, typer.Option("--consent", help="The customer agreed to face recognition.")
    ] = False,
    phone: Annotated[str | None, typer.Option()] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    location: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Enrol a customer from photos (all or nothing)."""
    from salesmigo.services import customers
    from salesmigo.services.photos import Photo

    if not consent:
        fail("pass --consent: a customer is enrolled only after agreeing to face recognition")
    try:
        born = date.fromisoformat(date_of_birth) if date_of_birth else None
    except ValueError:
        fail(f"--date-of-birth {date_of_birth!r} is not a date like 1990-04-30")
    read = []
    for path in photos:
        try:
            read.append(Photo(path.name, path.read_bytes()))
        except OSError as error:
            fail(f"cannot read {path}: {error.strerror}")
    details = customers.CustomerDetails(name, email, phone, born, location)
    with cli_runtime() as runtime, console.status("finding faces and enrolling"):
        record = customers.enrol(runtime, details, consent, read)
    if as_json:
        print_json(_as_json(record))
    else:
        console.print(f"enrolled customer {record.id} ({record.name}) from {len(read)} photo(s)")


@app.command("list")
def list_customers(
    query: Annotated[str | None, typer.Option(help="Part of a name or e-mail.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """List customers, newest last."""
    from salesmigo.services import customers

    with cli_runtime() as runtime:
        found, total = customers.search(runtime, query, limit, 0)
    if as_json:
        print_json([_as_json(r) for r in found])
    else:
        console.print(_table(found))
        console.print(f"{len(found)} of {total} customer(s)")


@app.command()
def show(customer_id: int, as_json: JsonFlag = False) -> None:
    """Show one customer."""
    from salesmigo.services import customers

    with cli_runtime() as runtime:
        record = customers.get(runtime, customer_id)
    if as_json:
        print_json(_as_json(record))
    else:
        console.print(_table([record]))


@app.command()
def delete(
    customer_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Erase a customer: profile, face templates and visits."""
    from salesmigo.services import customers

    with cli_runtime() as runtime:
        record = customers.get(runtime, customer_id)
        if not yes and not typer.confirm(f"Erase {record.name} and all their face data?"):
            fail("nothing was erased")
        customers.erase(runtime, customer_id)
    if as_json:
        print_json({"deleted": customer_id})
    else:
        console.print(f"erased customer {customer_id} ({record.name})")

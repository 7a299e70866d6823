"""Customer enrolment, lookup, correction and erasure."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from pydantic import EmailStr

from salesmigo.api.deps import RuntimeDep
from salesmigo.api.schemas import CustomerList, CustomerPublic, CustomerUpdate, ErrorBody
from salesmigo.services import customers
from salesmigo.services.errors import InvalidInput
from salesmigo.services.photos import Photo

router = APIRouter(prefix="/customers", tags=["customers"])

MAX_PHOTOS = 10
_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such customer."},
    422: {"model": ErrorBody, "description": "Bad input; `detail` says what and why."},
}


def _read_photos(uploads: list[UploadFile], max_bytes: int) -> list[Photo]:
    if not 1 <= len(uploads) <= MAX_PHOTOS:
        raise InvalidInput(f"send between 1 and {MAX_PHOTOS} photos; got {len(uploads)}")
    photos = []
    for number, upload in enumerate(uploads, start=1):
        name = upload.filename or f"photo {number}"
        # Read one byte past the limit: enough to know it is too large without reading it all.
        data = upload.file.read(max_bytes + 1)
        photos.append(Photo(name, data))
    return photos


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerPublic,
    responses={**_ERRORS, 409: {"model": ErrorBody, "description": "E-mail already enrolled."}},
)
def enrol_customer(
    runtime: RuntimeDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    email: Annotated[EmailStr, Form()],
    photos: Annotated[list[UploadFile], File(description="1 to 10 photos, one face each.")],
    consent: Annotated[bool, Form(description="Must be true.")] = False,
    phone: Annotated[str | None, Form(max_length=50)] = None,
    date_of_birth: Annotated[date | None, Form()] = None,
    location: Annotated[str | None, Form(max_length=200)] = None,
) -> CustomerPublic:
    """Enrol a customer from photos: one template per photo, all or nothing."""
    details = customers.CustomerDetails(name, email, phone, date_of_birth, location)
    read = _read_photos(photos, runtime.settings.vision.max_upload_bytes)
    return CustomerPublic.model_validate(customers.enrol(runtime, details, consent, read))


@router.get("", response_model=CustomerList)
def list_customers(
    runtime: RuntimeDep,
    query: Annotated[
        str | None, Query(max_length=200, description="Part of name or e-mail.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CustomerList:
    found, total = customers.search(runtime, query, limit, offset)
    return CustomerList(customers=[CustomerPublic.model_validate(c) for c in found], total=total)


@router.get("/{customer_id}", response_model=CustomerPublic, responses=_ERRORS)
def get_customer(runtime: RuntimeDep, customer_id: int) -> CustomerPublic:
    return CustomerPublic.model_validate(customers.get(runtime, customer_id))


@router.patch("/{customer_id}", response_model=CustomerPublic, responses=_ERRORS)
def update_customer(
    runtime: RuntimeDep, customer_id: int, changes: CustomerUpdate
) -> CustomerPublic:
    updated = customers.update(runtime, customer_id, changes.model_dump(exclude_unset=True))
    return CustomerPublic.model_validate(updated)


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
def delete_customer(runtime: RuntimeDep, customer_id: int) -> Response:
    """Erase the customer: profile, face templates and visits; the gallery forgets them now."""
    customers.erase(runtime, customer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{customer_id}/photos",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerPublic,
    responses=_ERRORS,
)
def add_photos(
    runtime: RuntimeDep,
    customer_id: int,
    photos: Annotated[list[UploadFile], File(description="1 to 10 photos, one face each.")],
) -> CustomerPublic:
    """Add face templates to an existing customer, all or nothing."""
    read = _read_photos(photos, runtime.settings.vision.max_upload_bytes)
    return CustomerPublic.model_validate(customers.add_photos(runtime, customer_id, read))

"""A short billing flow driven ONLY through the client openapi-python-client generated from
the server's /openapi.json (crates/prorata/tests/generated_client.rs runs it): its functions
and its models, the answers parsed into those models and checked on their typed fields.

Usage: python3 generated_client.py BASE_URL API_KEY CATALOG_TOML
(the generated package `prorata_client` on PYTHONPATH). The last line printed is
`CALLS <json>`: each request made, with its method, route template, status and the
`X-Request-Id` the server answered, for the test to find in /metrics and in the request log.
"""

import datetime
import json
import sys

from prorata_client import AuthenticatedClient
from prorata_client.api.accounts import create_account, get_account, update
from prorata_client.api.catalogs import create_catalog
from prorata_client.api.documents import list_invoices
from prorata_client.api.people import list_change_requests
from prorata_client.api.subscriptions import (
    create_subscription,
    entitlements,
    get_subscription,
    preview_change,
)
from prorata_client.models import (
    Account,
    AccountOut,
    AccountPatch,
    ActorHeader,
    Address,
    CatalogOut,
    ChangeBody,
    ChangeDirection,
    ChangePreview,
    ChangeRequestsOut,
    CreatedSubscription,
    Currency,
    DocumentKind,
    SubscriptionStatus,
    Frequency,
    Lang,
    NewCatalog,
    NewSubscription,
    NewSubscriptionQuantities,
    Problem,
    SetQuantity,
    SetQuantityType,
    Subscription,
    SubscriptionEntitlements,
)

base_url, key, catalog_file = sys.argv[1:4]
client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
calls = []


def call(method, route, expected, answer):
    """Records one request and checks its status; returns what the client parsed."""
    calls.append(
        {
            "method": method,
            "route": route,
            "status": int(answer.status_code),
            "request_id": answer.headers.get("x-request-id"),
        }
    )
    assert answer.status_code == expected, (route, answer.status_code, answer.content)
    # An error parses into the problem schema, a success into its own.
    assert isinstance(answer.parsed, Problem) == (expected >= 400), answer.parsed
    return answer.parsed


def field(item, name):
    """A field of a list item, typed or (while the list's schema is untyped) a dict."""
    return item[name] if isinstance(item, dict) else getattr(item, name)


with open(catalog_file, encoding="utf-8") as f:
    source = f.read()
catalog = call(
    "POST",
    "/v1/catalogs",
    201,
    create_catalog.sync_detailed(client=client, body=NewCatalog(source=source)),
)
assert isinstance(catalog, CatalogOut) and catalog.version == 1, catalog

account = call(
    "POST",
    "/v1/accounts",
    201,
    create_account.sync_detailed(
        client=client,
        body=Account(
            name="Lumen SAS",
            country="FR",
            currency=Currency.EUR,
            language=Lang.FR,
            address=Address(line1="1 rue de Rivoli", postcode="75001", city="Paris"),
            billing_contacts=["billing@lumen.example"],
        ),
        idempotency_key="create-lumen",
    ),
)
assert isinstance(account, AccountOut) and account.name == "Lumen SAS", account
again = call(
    "GET", "/v1/accounts/{id}", 200, get_account.sync_detailed(account.id, client=client)
)
assert again.currency == Currency.EUR and again.address.city == "Paris", again

today = datetime.date.today()
quantities = NewSubscriptionQuantities()
quantities["user"] = 10
quantities["number"] = 2
created = call(
    "POST",
    "/v1/subscriptions",
    201,
    create_subscription.sync_detailed(
        client=client,
        body=NewSubscription(
            account_id=account.id,
            catalog_version_id=catalog.id,
            plan="essentials",
            frequency=Frequency.MONTHLY,
            currency=Currency.EUR,
            start=today,
            trial_days=0,
            quantities=quantities,
        ),
    ),
)
assert isinstance(created, CreatedSubscription), created
# A live tenant bills on the calendar: starting today, the first invoice is issued at once.
assert len(created.documents) == 1, created.documents
first = created.documents[0]
assert first.kind == DocumentKind.INVOICE and first.issued_on == today, first
assert first.total.currency == Currency.EUR and first.total.minor > 0, first.total
assert first.buyer.name == "Lumen SAS" and first.seller.siren == "552100554", first

subscription = call(
    "GET",
    "/v1/subscriptions/{id}",
    200,
    get_subscription.sync_detailed(created.id, client=client),
)
assert isinstance(subscription, Subscription), subscription
assert subscription.account_id == account.id and not subscription.in_trial, subscription
assert subscription.subscription.plan == "essentials", subscription.subscription
assert subscription.subscription.quantities["user"] == 10, subscription.subscription
assert subscription.next_due > today, subscription.next_due

# After the trial the account's owner may move the address, not the country (seed 003): the
# header `X-Prorata-Actor` says whose rules apply.
moved = call(
    "PATCH",
    "/v1/accounts/{id}",
    200,
    update.sync_detailed(
        account.id,
        client=client,
        body=AccountPatch(city="Lyon", postcode="69001"),
        x_prorata_actor=ActorHeader.OWNER,
    ),
)
assert moved.address.city == "Lyon" and moved.address.line1 == "1 rue de Rivoli", moved
refused = call(
    "PATCH",
    "/v1/accounts/{id}",
    403,
    update.sync_detailed(
        account.id,
        client=client,
        body=AccountPatch(country="DE"),
        x_prorata_actor=ActorHeader.OWNER,
    ),
)
assert refused.code == "forbidden" and refused.detail.startswith("country:"), refused

preview = call(
    "POST",
    "/v1/subscriptions/{id}/changes/preview",
    200,
    preview_change.sync_detailed(
        created.id,
        client=client,
        body=ChangeBody(
            request=SetQuantity(type_=SetQuantityType.SET_QUANTITY, product="user", quantity=12)
        ),
    ),
)
assert isinstance(preview, ChangePreview) and preview.direction == ChangeDirection.UPGRADE
upgrade = preview.documents[0]
assert upgrade.kind == DocumentKind.INVOICE and upgrade.number == "", upgrade
assert 0 < upgrade.total.minor, upgrade.total
assert any(line.quantity == 2 for line in upgrade.lines), upgrade.lines

# A refused change answers the problem schema with its typed `refusal`.
too_few = call(
    "POST",
    "/v1/subscriptions/{id}/changes/preview",
    422,
    preview_change.sync_detailed(
        created.id,
        client=client,
        body=ChangeBody(
            request=SetQuantity(type_=SetQuantityType.SET_QUANTITY, product="user", quantity=0)
        ),
    ),
)
assert too_few.code == "change_refused", too_few
assert too_few.refusal.reason == "below_minimum" and too_few.refusal.quantity == 0, too_few

gates = call(
    "GET",
    "/v1/subscriptions/{id}/entitlements",
    200,
    entitlements.sync_detailed(created.id, client=client),
)
assert isinstance(gates, SubscriptionEntitlements) and gates.subscription_id == created.id
assert gates.status == SubscriptionStatus.ACTIVE and gates.plan == "essentials", gates
# Each product limit is one of the kinds' variants, each with its quantity held.
held = {limit.product: limit.quantity for limit in gates.limits}
assert held.get("user") == 10 and held.get("number") == 2, held

invoices = call(
    "GET",
    "/v1/invoices",
    200,
    list_invoices.sync_detailed(client=client, account_id=account.id),
)
numbers = [field(row, "number") for row in field(invoices, "data")]
assert numbers == [first.number], numbers

# No customer asked anything in the portal: no change request to decide.
pending = call(
    "GET",
    "/v1/change-requests",
    200,
    list_change_requests.sync_detailed(client=client, account_id=account.id),
)
assert isinstance(pending, ChangeRequestsOut) and pending.data == [], pending

print("CALLS " + json.dumps(calls))

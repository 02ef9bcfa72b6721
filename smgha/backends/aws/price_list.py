"""GetProducts of the AWS Price List Query API, for `price-table: aws-price-list`
(smgha/resources/price_list.py reads the answers).

The Query API has a few endpoints of its own, whatever region the job runs in: botocore's
endpoints.json (botocore 1.44) lists `api.pricing` in us-east-1, eu-central-1 and ap-south-1
for the aws partition (AWS's API reference names https://api.pricing.us-east-1.amazonaws.com
and https://api.pricing.ap-south-1.amazonaws.com; eu-central-1 is in botocore's table only).
The prices are the same from each; the client uses the one nearest the job's region, so that
an organization that keeps its calls in Europe or Asia is not sent to Virginia.

The client is created on the first call (no AWS call is made for a stage that prices nothing)
and tries twice at most, with short timeouts: a price is information, not worth a stalled
stage. Every failure, a denial first, is a PriceListUnavailable that says why.
"""

from __future__ import annotations

from collections.abc import Callable

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from smgha.backends import PriceListUnavailable
from smgha.backends.aws.client import ACCESS_DENIED_CODES, IAM_ACTIONS

# The Query API's endpoints (see the module docstring), by the job region's first part.
ENDPOINT_REGIONS = {"eu": "eu-central-1", "ap": "ap-south-1"}
DEFAULT_ENDPOINT_REGION = "us-east-1"
# More pages than this is an answer too wide to be one price anyway (the reader wants exactly
# one product); it stops there rather than read a whole catalogue.
MAX_PAGES = 3
PAGE_SIZE = 100  # GetProducts' MaxResults (botocore model: GetProductsMaxResults, 1 to 100)


def endpoint_region(region: str) -> str:
    """The Query API endpoint's region for a job in `region`."""
    return ENDPOINT_REGIONS.get(region.split("-")[0], DEFAULT_ENDPOINT_REGION)


def pricing_client(session: boto3.Session, region: str) -> BaseClient:
    """A `pricing` client of the endpoint nearest `region`: two tries, short timeouts."""
    config = Config(
        region_name=endpoint_region(region),
        retries={"mode": "standard", "total_max_attempts": 2},
        connect_timeout=5,
        read_timeout=15,
        user_agent_extra="smgha",
    )
    return session.client("pricing", config=config)


class GetProducts:
    """The port's ProductSearch on AWS. `session` gives the boto3 session on first use (the
    stage's renewing one); tests give `client` instead (botocore's Stubber)."""

    def __init__(
        self,
        session: Callable[[], boto3.Session] | None,
        region: str,
        client: BaseClient | None = None,
    ) -> None:
        self._session = session
        self._region = region
        self._client = client

    def client(self) -> BaseClient:
        if self._client is None:
            assert self._session is not None, "GetProducts needs a session or a client"
            self._client = pricing_client(self._session(), self._region)
        return self._client

    def __call__(self, service_code: str, filters: list[dict[str, str]]) -> list[str]:
        found: list[str] = []
        request: dict[str, object] = {
            "ServiceCode": service_code,
            "Filters": filters,
            "FormatVersion": "aws_v1",
            "MaxResults": PAGE_SIZE,
        }
        try:
            for _ in range(MAX_PAGES):
                page = self.client().get_products(**request)
                found += page.get("PriceList", [])
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
        except ClientError as error:
            raise PriceListUnavailable(_refusal(error)) from error
        except BotoCoreError as error:  # no credentials, endpoint unreachable, timeout
            raise PriceListUnavailable(f"GetProducts failed ({error})") from error
        return found


def _refusal(error: ClientError) -> str:
    detail = error.response.get("Error", {})
    code = detail.get("Code", "Unknown")
    message = detail.get("Message", "") or str(error)
    if code in ACCESS_DENIED_CODES:  # the message names the role and account: not for a summary
        return f"{IAM_ACTIONS['GetProducts']} denied ({code})"
    # One line for a summary: an answer that is not AWS's JSON (an HTML error page) is cut.
    shown = " ".join(message.split())
    shown = shown if len(shown) <= 120 else shown[:119] + "…"
    return f"GetProducts failed ({code}: {shown})"

"""The Kubeflow Pipelines API through kfp.Client, with retries.

Auth is kfp.Client's own: the host (--host, the environment's `pipelines.host`, or kfp's
KF_PIPELINES_ENDPOINT), then the first of: a bearer token in MODELKILN_KFP_TOKEN
(kfp.Client(existing_token=...)); a projected service-account token file named by
KF_PIPELINES_SA_TOKEN_PATH (kfp.client.set_volume_credentials.
ServiceAccountTokenVolumeCredentials, which reads that variable itself); kfp's IAP / OAuth2
variables (KF_PIPELINES_IAP_OAUTH2_CLIENT_ID, ...) that kfp.Client reads.

Only whole steps are retried (observe, then act; see deploy/pipelines.py): after a 5xx on
a create the server may have done it anyway, so the step looks again before acting again.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from compiler.errors import HostError

TOKEN_ENV = "MODELKILN_KFP_TOKEN"
SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"  # kfp.client.set_volume_credentials
ATTEMPTS = 5
BACKOFF_S = float(os.environ.get("MODELKILN_DEPLOY_BACKOFF_S", "1"))  # 1, 2, 4, 8 s
T = TypeVar("T")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """kfp.Client prints links and warns about its version range; our output is the plan."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def transient(err: BaseException) -> bool:
    """A 5xx answer or no answer at all: worth another try."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    if isinstance(err, ApiException):
        return err.status is None or err.status >= 500
    return isinstance(err, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def describe(err: BaseException) -> str:
    from kfp_server_api.exceptions import ApiException

    if isinstance(err, ApiException):
        body = err.body.decode("utf-8", "replace") if isinstance(err.body, bytes) else err.body
        detail = " ".join(str(body or "").split())[:200]
        return f"HTTP {err.status} {err.reason}" + (f": {detail}" if detail else "")
    reason = getattr(err, "reason", None)
    return " ".join(str(reason or err).split())[:200] or type(err).__name__


def with_retries(what: str, step: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run step, again after a transient failure (backoff 1, 2, 4, ... s); any other API
    error, or the last transient one, is a HostError naming what failed (exit 3)."""
    from kfp_server_api.exceptions import ApiException

    for attempt in range(1, attempts + 1):
        try:
            with quiet():
                return step()
        except Exception as err:  # classified below
            if transient(err) and attempt < attempts:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
                continue
            if transient(err) or isinstance(err, ApiException):
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                message = f"Kubeflow Pipelines API: {what} failed{tries}: {describe(err)}"
                raise HostError(message) from None
            raise
    raise AssertionError("unreachable")


def client(host: str, namespace: str | None) -> Any:
    """A kfp.Client for host with the standard credentials of the environment."""
    import kfp

    options: dict[str, Any] = {"host": host}
    if os.environ.get(TOKEN_ENV):
        options["existing_token"] = os.environ[TOKEN_ENV]
    elif os.environ.get(SA_TOKEN_ENV):
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        options["credentials"] = ServiceAccountTokenVolumeCredentials()
    if namespace:
        options["namespace"] = namespace  # also spares the client its healthz probe
    return with_retries(f"connecting to {host}", lambda: kfp.Client(**options))

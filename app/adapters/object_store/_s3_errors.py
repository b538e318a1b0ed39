"""Translate botocore errors into the port's errors, with messages that say what to check
and never carry credentials (they quote only the error code and the store's location)."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.adapters.object_store.port import (
    ObjectNotFound,
    ObjectStoreError,
    StorageAccessDenied,
    StorageUnavailable,
)

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidSecurity",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "403",
    }
)
REGION_CODES = frozenset(
    {"AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "PermanentRedirect"}
)
RETRYABLE_CODES = frozenset(
    {"InternalError", "RequestTimeout", "ServiceUnavailable", "SlowDown", "503", "500"}
)
TRANSLATED = (BotoCoreError, ClientError, TimeoutError)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def storage_error(exc: BaseException, where: str, key: str | None = None) -> ObjectStoreError:
    """The port error for ``exc``, raised while working on ``key`` (when given) in the
    store described by ``where`` (e.g. ``s3://models/prod at http://minio:9000``)."""
    if isinstance(exc, ClientError):
        return _client_error(exc, where, key)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageAccessDenied(
            f"no usable S3 credentials for {where}: set the access key id and secret"
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError | TimeoutError):
        return StorageUnavailable(f"cannot reach {where} ({type(exc).__name__}): is it running?")
    return ObjectStoreError(f"S3 request to {where} failed: {exc}")


def _client_error(exc: ClientError, where: str, key: str | None) -> ObjectStoreError:
    code = error_code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if key is not None and code in NOT_FOUND_CODES:
        return ObjectNotFound(key)
    if code in ("NoSuchBucket", "404", "NotFound"):
        return StorageUnavailable(f"the bucket of {where} does not exist ({code})")
    if code in ACCESS_CODES or status == 403:
        return StorageAccessDenied(
            f"access to {where} was denied ({code or status}): check the access key id, "
            "the secret and the bucket policy"
        )
    if code in REGION_CODES or status == 301:
        return StorageUnavailable(
            f"{where} rejected the request ({code or status}): check the region setting"
        )
    if code in RETRYABLE_CODES or (status is not None and status >= 500):
        return StorageUnavailable(f"{where} is unavailable ({code or status}); try again later")
    message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
    return ObjectStoreError(f"{where} refused the request ({code or status}): {message}")

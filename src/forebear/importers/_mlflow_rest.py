"""The MLflow tracking server's REST API, as much of it as an import reads: experiments,
runs, metric histories, artifact listings and downloads, logged models, the Model
Registry. Standard library only (``forebear._http``): a kept-alive connection per
thread, as downloads run side by side; MLflow's own credential variables. Its errors are
``ForebearError``s naming the request and the fix."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from forebear._http import HttpClient
from forebear.capture.git_remote import redact_url
from forebear.errors import (
    AuthError,
    ForebearError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)

__all__ = ["MlflowClient"]

_PAGE = 500
_CHUNK = 1 << 20


class MlflowClient:
    """The few MLflow REST calls an import needs; credentials as MLflow's own client
    reads them (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``)."""

    def __init__(self, url: str, *, environ: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                f"{redact_url(url)!r} is not an MLflow tracking server URL",
                hint="start one over your runs (mlflow server --backend-store-uri "
                "sqlite:///mlflow.db) and give its http:// URL")
        env = os.environ if environ is None else environ
        headers = {"User-Agent": "forebear-import"}
        token = env.get("MLFLOW_TRACKING_TOKEN")
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        if parts.username is not None:
            # http://user:password@host, as MLflow's own client takes it: used to sign in
            # (unless the environment names someone) and kept out of every message.
            from urllib.parse import unquote

            if not (user and password):
                user, password = unquote(parts.username), unquote(parts.password or "")
            url = redact_url(url)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            import base64

            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        # A kept-alive connection per thread: an import makes a request per run, metric
        # and file, and downloads files on several threads at once.
        self._http = HttpClient(url, None, timeout, headers=headers, name="the MLflow server",
                                hint="check the URL, and that `mlflow server` runs")
        self.url = self._http.url

    def close(self) -> None:
        """Close every thread's kept-alive connection."""
        self._http.close_all()

    def _open(self, method: str, path: str, body: Any = None) -> http.client.HTTPResponse:
        """Send a request; its response, to be read to the end."""
        data = None if body is None else json.dumps(body).encode()
        response = self._http.open(method, path, body=data)
        if response.status >= 400:
            try:
                answer = response.read()
            except (OSError, http.client.HTTPException):
                answer = b""
                self._http.drop()
            raise _error(response.status, answer, f"{method} {self.url}{path}")
        return response

    def call(self, method: str, route: str, body: Any = None, **query: Any) -> Any:
        """One JSON request to ``route`` (with ``query``, None values left out); the
        decoded answer."""
        path = route
        if query:
            path += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        response = self._open(method, path, body)
        try:
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._http.drop()
            raise TransportError(f"the MLflow server at {self.url} broke off its answer: "
                                 f"{exc}", hint="try again") from None
        try:
            return json.loads(answer or b"{}")
        except (ValueError, RecursionError):  # not JSON, or nested past any use
            raise TransportError(f"{self.url}{path} did not answer JSON",
                                 hint="is this URL an MLflow tracking server?") from None

    def download(self, path: str, sink: Callable[[bytes], object]) -> None:
        """Stream the body of ``GET path`` into ``sink``."""
        response = self._open("GET", path)
        try:
            while chunk := response.read(_CHUNK):
                sink(chunk)
        except BaseException:
            self._http.drop()  # a body left half read makes the connection unusable
            raise

    # -- the calls -------------------------------------------------------------------------
    def _pages(self, method: str, route: str, key: str, body: dict[str, Any] | None = None,
               **query: Any) -> Iterator[dict[str, Any]]:
        """The ``key`` items of every page of a paged listing (``next_page_token``);
        the token goes in the JSON body of a POST, in the query of a GET."""
        token = None
        while True:
            if body is not None:
                page = self.call(method, route, {**body, **({"page_token": token} if token
                                                            else {})})
            else:
                page = self.call(method, route, **query, page_token=token)
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    def _files(self, route: str, param: str, path: str = "",
               **fixed: Any) -> Iterator[dict[str, Any]]:
        """Every file of an artifact listing, walking its folders (``param`` names the
        folder in the query)."""
        answer = self.call("GET", route, **fixed, **{param: path or None})
        for item in answer.get("files", []):
            if item.get("is_dir"):
                yield from self._files(route, param, item["path"], **fixed)
            else:
                yield item

    def experiments(self) -> list[dict[str, Any]]:
        """Every active experiment."""
        return list(self._pages("POST", "/api/2.0/mlflow/experiments/search", "experiments",
                                {"max_results": _PAGE, "view_type": "ACTIVE_ONLY"}))

    def runs(self, experiment_ids: list[str]) -> Iterator[dict[str, Any]]:
        """The experiments' active runs, oldest first."""
        return self._pages("POST", "/api/2.0/mlflow/runs/search", "runs", {
            "experiment_ids": experiment_ids, "max_results": _PAGE,
            "run_view_type": "ACTIVE_ONLY", "order_by": ["attributes.start_time ASC"]})

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """Every logged value of one metric of a run."""
        return list(self._pages("GET", "/api/2.0/mlflow/metrics/get-history", "metrics",
                                run_id=run_id, metric_key=key, max_results=25000))

    def run_files(self, run_id: str, path: str = "") -> Iterator[dict[str, Any]]:
        """Every artifact file of a run (under ``path``), walking its folders."""
        return self._files("/api/2.0/mlflow/artifacts/list", "path", path, run_id=run_id)

    def model(self, model_id: str) -> dict[str, Any]:
        """A logged model's info (MLflow 3)."""
        answer = self.call("GET", f"/api/2.0/mlflow/logged-models/{quote(model_id)}")
        info: dict[str, Any] = answer.get("model", {}).get("info", {})
        return info

    def model_files(self, model_id: str) -> Iterator[dict[str, Any]]:
        """Every file of a logged model, walking its folders."""
        return self._files(
            f"/api/2.0/mlflow/logged-models/{quote(model_id)}/artifacts/directories",
            "artifact_directory_path")

    def registered_models(self) -> list[dict[str, Any]]:
        """Every registered model of the Model Registry, with its aliases."""
        return list(self._pages("GET", "/api/2.0/mlflow/registered-models/search",
                                "registered_models", max_results=1000))

    def model_version(self, name: str, version: str) -> dict[str, Any]:
        """One version of a registered model."""
        answer = self.call("GET", "/api/2.0/mlflow/model-versions/get", name=name,
                           version=version)
        found: dict[str, Any] = answer.get("model_version", {})
        return found

    def run_file_path(self, run_id: str, path: str) -> str:
        return "/get-artifact?" + urlencode({"path": path, "run_uuid": run_id})

    def model_file_path(self, model_id: str, path: str) -> str:
        return (f"/ajax-api/2.0/mlflow/logged-models/{quote(model_id)}/artifacts/files?"
                + urlencode({"artifact_file_path": path}))


def _error(status: int, answer: bytes, what: str) -> ForebearError:
    try:
        detail = json.loads(answer)
        message = str(detail.get("message") or detail.get("error_code") or "")
    except (ValueError, AttributeError):
        message = answer[:200].decode("utf-8", "replace").strip()
    message = " ".join(message.split())  # one line, even from an HTML error page
    text = f"{what} answered HTTP {status}: {message[:200]}"
    if status in (401, 403):
        return AuthError(text, hint="set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME "
                         "and MLFLOW_TRACKING_PASSWORD")
    if status == 404:
        return NotFoundError(text, hint="check the tracking server URL and its MLflow version")
    if status < 500:
        return InvalidInputError(text, hint="check the tracking server URL")
    return TransportError(text, hint="the MLflow server failed: try again, or look at its log")

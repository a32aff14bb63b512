"""The providers under test behind one interface: evaluate a list of cases.

A case travels as a plain document ``{key, type, default, context, headers, pollMs?}``
(``headers`` as ``[[name, value], ...]``) and every provider answers each with
``{value, variant, reason, errorCode, errorMessage, flagMetadata, initError,
requests}``, ``requests`` being the HTTP exchange the evaluation caused (method, path,
status, If-None-Match sent, ETag received, the ``errorCode`` of an error body).

- :class:`PythonProviders`: ``openfeature-sdk`` with ``openfeature-provider-ofrep``,
  in this process;
- :class:`NodeDriver`: one long-lived ``node js/driver.mjs`` process (JavaScript server
  or web provider) speaking JSON lines on stdin/stdout.
"""

from __future__ import annotations

import hashlib
import json
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails

from tests.integration.conformance.cases import Paradigm

__all__ = ["PARADIGMS", "PROVIDERS", "NodeDriver", "Provider", "PythonProviders"]

PROVIDERS = ("python", "js-server", "js-web")
PARADIGMS = {"python": Paradigm.DYNAMIC, "js-server": Paradigm.DYNAMIC, "js-web": Paradigm.STATIC}

_CALL_TIMEOUT = 60.0  # guards against a hung driver; never reached by a healthy one


def _domain(prefix: str, value: Any) -> str:
    return f"{prefix}-{hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]}"


class PythonProviders:
    """``OFREPProvider`` (Python), one per set of headers, through the OpenFeature API."""

    def __init__(self, base: str) -> None:
        self._base = base
        self._clients: dict[str, tuple[OpenFeatureClient, list[dict[str, Any]]]] = {}

    def _client(self, headers: list[list[str]]) -> tuple[OpenFeatureClient, list[dict[str, Any]]]:
        domain = _domain("conformance-python", headers)
        if domain not in self._clients:
            fixed = {name: value for name, value in headers}
            provider = OFREPProvider(self._base, headers_factory=lambda: dict(fixed))
            exchange: list[dict[str, Any]] = []
            provider.session.hooks["response"].append(
                lambda response, *args, **kwargs: exchange.append(_exchange(response))
            )
            api.set_provider(provider, domain=domain)
            self._clients[domain] = (api.get_client(domain), exchange)
        return self._clients[domain]

    def _evaluate(self, case: dict[str, Any]) -> dict[str, Any]:
        client, exchange = self._client(case["headers"])
        context = dict(case["context"])
        targeting_key = context.pop("targetingKey", None)
        evaluation_context = EvaluationContext(targeting_key=targeting_key, attributes=context)
        methods: dict[str, Callable[..., FlagEvaluationDetails[Any]]] = {
            "boolean": client.get_boolean_details,
            "string": client.get_string_details,
            "integer": client.get_integer_details,
            "float": client.get_float_details,
            "object": client.get_object_details,
        }
        method = methods[case["type"]]
        exchange.clear()
        details = method(case["key"], case["default"], evaluation_context)
        return {
            "value": details.value,
            "variant": details.variant,
            "reason": None if details.reason is None else str(details.reason),
            "errorCode": None if details.error_code is None else str(details.error_code),
            "errorMessage": details.error_message,
            "flagMetadata": dict(details.flag_metadata),
            "initError": None,
            "requests": list(exchange),
        }

    def evaluate(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._evaluate(case) for case in cases]

    def await_change(self, case: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
        # Nothing is cached between evaluations: a change shows on the next one.
        return self._evaluate(case)


def _exchange(response: requests.Response) -> dict[str, Any]:
    error_code = None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error_code = body.get("errorCode")
    request = response.request
    return {
        "method": request.method,
        "path": urlsplit(request.url).path,
        "status": response.status_code,
        "ifNoneMatch": request.headers.get("If-None-Match"),
        "etag": response.headers.get("ETag"),
        "errorCode": error_code,
    }


class NodeDriver:
    """One ``node driver.mjs <kind> <base>`` process, called with JSON lines."""

    def __init__(self, node: str, driver: Path, kind: str, base: str, log: Path) -> None:
        self.kind = kind
        self._log_path = log
        self._log = log.open("w")
        self._process = subprocess.Popen(
            [node, str(driver), kind, base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=driver.parent,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self._process.stdout is not None
        threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _stderr(self) -> str:
        self._log.flush()
        return "\n".join(self._log_path.read_text().splitlines()[-30:])

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._lines.get(timeout=_CALL_TIMEOUT)
        except (BrokenPipeError, queue.Empty) as exc:
            raise AssertionError(
                f"the {self.kind} driver did not answer {request.get('op')}: {exc!r}\n"
                f"{self._stderr()}"
            ) from exc
        if line is None:
            raise AssertionError(
                f"the {self.kind} driver exited ({self._process.wait()}):\n{self._stderr()}"
            )
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise AssertionError(f"the {self.kind} driver failed: {answer.get('error')}")
        return answer

    def evaluate(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self.call({"op": "evaluate", "cases": cases})["results"]
        return results

    def await_change(self, case: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            {"op": "await_change", "case": case, "timeoutMs": timeout_ms}
        )["result"]
        return result

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.call({"op": "requests"})["requests"]
        return log

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._log.close()


Provider = PythonProviders | NodeDriver

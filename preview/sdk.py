"""The Pulumi SDK internals the offline engine relies on, behind one small adapter.

The mock runtime (``pulumi.runtime.mocks``) is the SDK's documented way to run a program
without an engine, but recording a whole run also needs a few private pieces: the RPC property
(de)serialisers, the secret wrappers, the event-loop helpers, the settings that hold the root
resource and the outstanding RPCs. They are imported here only, and ``missing()`` names any of
them a new SDK release has moved (tests/test_sdk.py fails with that list), so an upgrade breaks
one file with a clear message, not the preview in twenty places. requirements.txt pins the
``pulumi`` release this was checked against.
"""

from __future__ import annotations

import atexit
import importlib
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.proto import resource_pb2 as _resource_pb2
from pulumi.runtime.stack import wait_for_rpcs as _wait_for_rpcs
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

T = TypeVar("T")

# (module, attribute) of every SDK internal used below.
INTERNALS = (
    ("pulumi.runtime.mocks", "Mocks"),
    ("pulumi.runtime.mocks", "MockMonitor"),
    ("pulumi.runtime.mocks", "MockResourceArgs"),
    ("pulumi.runtime.mocks", "MockCallArgs"),
    ("pulumi.runtime.mocks", "set_mocks"),
    ("pulumi.runtime.rpc", "deserialize_properties"),
    ("pulumi.runtime.rpc", "serialize_properties"),
    ("pulumi.runtime.rpc", "is_rpc_secret"),
    ("pulumi.runtime.rpc", "wrap_rpc_secret"),
    ("pulumi.runtime.rpc", "unwrap_rpc_secret"),
    ("pulumi.runtime.rpc", "UNKNOWN"),
    ("pulumi.runtime.settings", "ROOT"),
    ("pulumi.runtime.settings", "SETTINGS"),
    ("pulumi.runtime.settings", "get_root_resource"),
    ("pulumi.runtime.stack", "wait_for_rpcs"),
    ("pulumi.runtime.sync_await", "_sync_await"),
    ("pulumi.runtime.sync_await", "_ensure_event_loop"),
    ("pulumi.runtime.config", "set_all_config"),
    ("pulumi.runtime.proto.resource_pb2", "RegisterResourceResponse"),
)
# Attributes of the settings object the engine reads or resets.
SETTINGS_FIELDS = ("root_directory", "outputs", "rpc_manager")

Mocks = _mocks.Mocks
MockMonitor = _mocks.MockMonitor
MockResourceArgs = _mocks.MockResourceArgs
MockCallArgs = _mocks.MockCallArgs
UNKNOWN = _rpc.UNKNOWN


def missing() -> list[str]:
    """Every internal this adapter needs that the installed SDK lacks ("module.attribute")."""
    gone = []
    for module, attribute in INTERNALS:
        try:
            if not hasattr(importlib.import_module(module), attribute):
                gone.append(f"{module}.{attribute}")
        except ImportError:
            gone.append(f"{module}.{attribute}")
    settings = getattr(_settings, "SETTINGS", None)
    if settings is not None:
        gone += [f"pulumi.runtime.settings.SETTINGS.{name}" for name in SETTINGS_FIELDS
                 if not hasattr(settings, name)]
        if not hasattr(getattr(settings, "rpc_manager", None), "rpcs"):
            gone.append("pulumi.runtime.settings.SETTINGS.rpc_manager.rpcs")
    return gone


def sync_await(awaitable: Awaitable[T]) -> T:
    return _sync_await(awaitable)


def ensure_event_loop():
    return _ensure_event_loop()


def deserialize(struct: Any) -> dict:
    return _rpc.deserialize_properties(struct)


def serialize(properties: Mapping[str, Any]) -> Any:
    return _sync_await(_rpc.serialize_properties(dict(properties), {}))


def is_secret(value: Any) -> bool:
    return _rpc.is_rpc_secret(value)


def wrap_secret(value: Any) -> Any:
    return _rpc.wrap_rpc_secret(value)


def unwrap_secret(value: Any) -> Any:
    return _rpc.unwrap_rpc_secret(value)


def register_response(urn: str, resource_id: str, state: Any):
    return _resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=state)


def start(mocks: Any, monitor: Any, *, project: str, stack: str, preview: bool, root_directory: str,
          config: Mapping[str, str], secret_keys: list[str]) -> None:
    """A fresh mock runtime, set up as the language host would for one program run."""
    from pulumi.runtime import config as runtime_config

    runtime_config.set_all_config(dict(config), secret_keys)
    _settings.ROOT.set(None)
    _mocks.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    # What the language host sets: the directory of Pulumi.yaml and the stack files.
    _settings.SETTINGS.root_directory = root_directory


def wait_for_outstanding() -> None:
    _sync_await(_wait_for_rpcs())


def root_outputs() -> dict[str, Any]:
    """The stack's exports (``pulumi.export``), as the program registered them."""
    return dict(getattr(_settings.get_root_resource(), "outputs", {}) or {})


def discard_outstanding() -> None:
    """Drop the outputs and RPCs a failed program left in flight, so the next run in this
    process neither inherits nor re-raises them."""
    pending = list(_settings.SETTINGS.outputs) + list(_settings.SETTINGS.rpc_manager.rpcs)
    _settings.SETTINGS.outputs.clear()
    _settings.SETTINGS.rpc_manager.clear()
    for task in pending:
        if hasattr(task, "cancel"):
            task.cancel()
    loop = _ensure_event_loop()
    for task in pending:
        if hasattr(task, "cancel"):
            try:
                loop.run_until_complete(task)
            except BaseException:  # cancelled, or the failure we are discarding
                pass


@atexit.register
def _close_event_loop() -> None:
    """Close the mock runtime's event loop while the interpreter is whole: left to the garbage
    collector at shutdown it may close its self-pipe after the socket is gone and print an
    "Exception ignored" traceback."""
    loop = _ensure_event_loop()  # the loop the SDK ran on (made now if it never ran)
    if not loop.is_closed() and not loop.is_running():
        loop.close()

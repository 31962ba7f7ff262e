"""Reuse the recording fake cloud of the cloud_bridge tests."""

from tests.cloud_bridge.conftest import _cloud_server, cloud_engine, dead_url, fake_cloud  # noqa: F401

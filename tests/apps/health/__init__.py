"""Tests of apps.health."""

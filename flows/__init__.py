"""Hotspot Miner flows and the `hotspot` command line."""

from tasks.environment import configure_environment

configure_environment()

"""Hotspot Miner stages. Importing the package sets the process environment quirks once."""

from tasks.environment import configure_environment

configure_environment()

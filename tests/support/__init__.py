"""Test helpers shared across areas (fault-injecting loopback server)."""

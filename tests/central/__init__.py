"""The central workers on a real NATS cluster (a package: its helpers are imported relatively)."""

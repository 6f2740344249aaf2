//! Poison-queue tooling: list poisoned messages and replay them.

"""Tools that prove the guarantees (docs/reliability.md): the crash harness, for now."""

"""Pure decisions and their record types: no LangGraph, no I/O, no adapters (DESIGN §0)."""

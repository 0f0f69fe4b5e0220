"""Pydantic models that cross the tool boundary, one module per area."""

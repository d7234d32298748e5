"""The compatibility checks as plain functions returning reports; the shipped suite asserts on them."""

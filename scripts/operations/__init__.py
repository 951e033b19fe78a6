"""Operator commands: seed a table, shift a deploy to a new version, smoke-test a stage."""

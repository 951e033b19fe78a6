"""Command-line tools and what they share, one folder per audience.

operations/ holds the operator commands, planning/ the cost and capacity models, and harness/ the
loopback stack that the tests, the benchmark and `make run` start.
"""

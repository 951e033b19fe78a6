"""The loopback harness the tests, the benchmark and `make run` share: moto, `chalice local`, Lambda's events."""

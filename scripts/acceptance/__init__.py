"""`make acceptance`: the promises only a real AWS account can answer, checked against a deployed stage."""

"""Planning models: what the service costs a month, and the capacity a load needs."""

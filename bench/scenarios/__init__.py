"""The five scenarios of the benchmark, one module each (memory and cold start share
their sets of settled tasks); each returns the tables it measured."""

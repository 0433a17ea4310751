"""The benchmark's machinery: a private control plane that records who wrote what,
a bare HTTP client, the requests the controller sends for a task, the processes
under test, load generators, and the tables they report."""

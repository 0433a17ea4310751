"""Generic list/watch caches, indexes and a rate-limited workqueue; nothing Kuscia-specific."""

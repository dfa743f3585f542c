"""Facts every layer needs (catalog, package versions, host identity, exit statuses, schema names); imports nothing above it."""

"""Flask blueprints: the service's HTTP edges, thin."""

"""DefectDojo-compatible REST API."""

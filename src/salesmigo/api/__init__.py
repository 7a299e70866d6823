"""HTTP API: FastAPI app factory, routes and error handling."""

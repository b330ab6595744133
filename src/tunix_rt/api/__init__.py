"""HTTP API: create_app(settings) wires routers; routes/<resource>.py implement them."""

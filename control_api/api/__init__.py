"""HTTP routes, one module per resource; `control_api.app` assembles them."""

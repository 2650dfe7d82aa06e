"""HTTP routes, one module per area; ``service.app`` includes them."""

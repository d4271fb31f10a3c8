"""A minimal ASGI app deployed by the app role next to the reference app."""

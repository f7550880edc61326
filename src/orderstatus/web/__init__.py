"""The ASGI application: storefront, admin, REST API and webhooks."""

"""The customer's pages: the order status page, its sign-in and share links, and the demo shop."""

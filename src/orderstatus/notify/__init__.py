"""Customer messages and outbound webhooks: the outboxes, the worker that delivers them,
the e-mail and SMS senders, and the one safe way to call an address a merchant chose
(``outbound_http``)."""

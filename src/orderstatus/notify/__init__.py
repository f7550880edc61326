"""Customer messages: the outbox, the worker that delivers it, and the e-mail and SMS senders."""

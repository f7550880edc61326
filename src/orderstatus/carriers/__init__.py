"""The carriers we know: tracking links, live sources and tracking-number detection."""

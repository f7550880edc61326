"""Live updates: which orders changed, told to every web process, pushed to open pages."""

"""Use cases. Each public function is one transaction's worth of work on a given session."""

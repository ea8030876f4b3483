"""The HTTP API (DESIGN §5): one router per audience; routes verify, parse, call service, answer."""

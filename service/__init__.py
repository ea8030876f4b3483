"""The process: settings, wiring of adapters to ports, the lead runner and the queue."""

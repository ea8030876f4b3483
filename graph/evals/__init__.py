"""Offline evaluations on the shared third-party data (`python cli.py eval <what>`).

The data is read from `../shared/data` beside the repository (override with the environment
variable `LEAD_ROUTER_EVAL_DATA`) and is never copied into the repository.
"""

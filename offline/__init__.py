"""Offline tools over the same graph and domain: backtest, learn and the evaluations."""

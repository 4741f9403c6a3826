"""The gateways' sides of the wire, for the embedded default: VNPAY, MoMo and a bank, speaking their protocols.

State lives in memory (one process, like the embedded server); the HTTP routes are in api/fees/sandbox.py.
"""

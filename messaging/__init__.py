"""Citizen notifications through Zalo ZNS and SMS brand name: adapters, sandboxes, templates, opt-outs.

Imports core only (like carriers); core.notify decides when and through which channel a message goes.
"""

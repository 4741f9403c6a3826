"""Zalo Notification Service (ZNS): template messages to a phone number through an official account."""

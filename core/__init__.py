"""Shared foundations: settings, the names used everywhere, time, phone numbers, errors."""

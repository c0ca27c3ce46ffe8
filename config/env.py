"""Strict readers for settings that come from the environment.

A typo in a deployment's environment should stop the process with a clear message rather
than silently fall back to a default, so booleans accept only "True" and "False" and integers
must parse.
"""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name, default=""):
    """A string setting; `NAME_FILE` (a path, as Docker secrets provide) wins over `NAME`."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value == "True":
        return True
    if value == "False":
        return False
    raise ImproperlyConfigured(f'{name} must be "True" or "False", not {value!r}')


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_list(name, default=()):
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]

"""The ``asrhw`` subcommands, one module each; :class:`HelpFormatter` is their shared help."""

import argparse

__all__ = ["HelpFormatter"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` to an option's help only where it tells something: not for
    a default of ``None`` or ``False`` (an unset option, a flag), and not where the help text
    already says what the default is."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)

"""The command line's parsing rules: no abbreviated options, ``--set`` as one KEY=VALUE argument,
a suggestion for a near-miss option, one-line errors; and the exit-status texts of `report` and `compare`."""

from __future__ import annotations

import argparse

COMPARE_EXIT_HELP = """verdicts: slower / faster / same when both sides are stable and timed the same way
  and the 95% interval of new/old lies wholly past +PCT, past -PCT, or within
  ±PCT; inconclusive (with the reason) otherwise.
exit status:
  0    no case slower, failed or missing (inconclusive cases are listed)
  1    a case is slower, failed in NEW, or is missing from NEW; with --strict,
       also an inconclusive case
  2    bad input: nothing was compared
  3    nothing to compare: OLD holds no result records"""
REPORT_EXIT_HELP = """exit status:
  0    the report was written
  2    bad input: nothing was written
  3    no result records in the folders given: nothing was written"""


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # `--price X` must not be taken for `--prices X`
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2, no usage dump
        if message.startswith("unrecognized arguments: --"):
            from accelbench.suggest import did_you_mean

            option = message.split()[2].split("=")[0]
            message += did_you_mean(option, self._all_options())
        raise UsageError(message)

    def _all_options(self) -> list[str]:
        """Every option string of this parser and its subcommands (an unknown option is reported by the top parser)."""
        options = list(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    options += list(sub._option_string_actions)
        return sorted(set(options))


class SetAction(argparse.Action):
    """``--set KEY=VALUE``, repeatable; ``--set KEY VALUE`` is refused with the KEY=VALUE form shown."""

    argv: list[str] = []  # the command line being parsed (main sets it), to show the VALUE that followed

    def __call__(self, parser, namespace, value, option_string=None):
        if "=" not in value:
            following = self.argv[self.argv.index(value) + 1:self.argv.index(value) + 2] if value in self.argv else []
            shown = following[0] if following and not following[0].startswith("-") else "VALUE"
            raise argparse.ArgumentError(self, f"'{value}' has no '=': write it as --set {value}={shown} "
                                               f"(one argument, KEY=VALUE)")
        getattr(namespace, self.dest).append(value)

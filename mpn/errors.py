"""The one exception type for bad user input: stages turn it into a one-line error."""


class UserError(Exception):
    """Bad input from the user (a param, a file, a name). The message is shown as is,
    on one line, so it must name the bad value and what is allowed."""

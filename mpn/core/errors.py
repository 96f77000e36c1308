"""The one exception type for bad user input: stages turn it into a one-line error."""


class UserError(Exception):
    """Bad input from the user (a param, a file, a name). The message is shown as is,
    on one line, so it must name the bad value and what is allowed."""


def first_line(err: BaseException) -> str:
    """A library's (often multi-line) error message, cut to its first line for a UserError."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__

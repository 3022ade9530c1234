"""Host hooks used by the tests."""


def legal_name(user):
    return f"LEGAL {user.username}"


def checkpoint_name(location):
    return f"Midterm check ({location.rsplit('@', 1)[-1]})"

"""Seed the stack's database and keep the logins and consumer keys for its test.

``python -m stack.seed`` (run by ``stack.run start``): the demo's users and
consumers (``demo.seed``), written to ``.stack/demo.json`` (mode 0600, never
in the repository) for the end-to-end test to log in and sign launches.
"""

from __future__ import annotations

import json
import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack.settings")
    django.setup()
    from demo.seed import seed
    from stack.layout import STACK_DIR

    data = seed()
    found = {
        "course_id": data.course_id,
        "logins": {username: password for _role, username, password in data.logins},
        "consumers": [
            {
                "pk": consumer.pk,
                "name": consumer.consumer_name,
                "key": consumer.consumer_key,
                "secret": consumer.consumer_secret,
                "require_user_account": consumer.require_user_account,
            }
            for consumer in data.consumers
        ],
    }
    path = STACK_DIR / "demo.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(found, out, indent=2)


if __name__ == "__main__":
    main()

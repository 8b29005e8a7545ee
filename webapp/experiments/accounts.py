"""The lab's starting users: one staff member and one rater, created once."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import transaction

from webapp.access import RATERS_GROUP


def lab_users_ensure(*, credentials_file: Path) -> list[dict]:
    """Create `admin` (staff, superuser) and `rater` (in the raters group) if missing.

    Their generated passwords are kept in ``credentials_file`` (mode 600) so that a second
    run can print them again; a user whose password was changed by hand shows "(changed)".
    """
    saved = json.loads(credentials_file.read_text()) if credentials_file.is_file() else {}
    wanted = [("admin", "staff"), ("rater", "rater")]
    out = []
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=RATERS_GROUP)
        for username, role in wanted:
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(9)
                user = User(username=username, is_staff=role == "staff", is_superuser=role == "staff")
                user.set_password(password)
                user.save()
                saved[username] = password
            if role == "rater":
                user.groups.add(group)
            known = saved.get(username)
            password = known if known is not None and user.check_password(known) else "(changed, not shown)"
            out.append({"username": username, "role": role, "password": password})
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(json.dumps(saved, indent=2))
    credentials_file.chmod(0o600)
    return out

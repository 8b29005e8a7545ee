"""Plotly's JavaScript comes from the installed plotly package through our own view: the report
pages load no script from anywhere else."""

from __future__ import annotations

import re

import plotly
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_pages_load_scripts_only_from_this_site(client, staff, make_filled):
    filled = make_filled(slug="scripted", n_prompts=6, n_raters=2)
    client.force_login(staff)
    html = client.get(reverse("reports:results", args=[filled.experiment.slug])).content.decode()
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert f"{reverse('reports:plotly_js')}?v={plotly.__version__}" in sources
    assert all(src.startswith("/") and not src.startswith("//") for src in sources), sources
    assert 'type="application/json" id="fig-vs_baseline-1"' in html  # figures travel as data, drawn by reports.js

    js = client.get(reverse("reports:plotly_js"))
    body = b"".join(js.streaming_content)
    assert js.status_code == 200 and js["Content-Type"].startswith("text/javascript")
    assert len(body) > 1_000_000 and b"plotly.js" in body[:2000]
    assert "max-age=31536000" in js["Cache-Control"]

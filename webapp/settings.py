"""Django settings. Everything that varies between machines comes from the environment,
through the typed helpers in ``webapp.env``; the defaults are the embedded lab (SQLite under
``var/``, a filesystem Celery broker, artifacts under ``var/artifacts``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webapp.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_path,
    env_processes,
    env_proxy_ssl_header,
    env_str,
    env_url,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_path("VAR_DIR", BASE_DIR / "var"))

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = secret_key(VAR_DIR, debug=DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_htmx",
    "webapp.experiments",
    "webapp.rating",
    "webapp.reports",
    "webapp.pipeline",
    "drf_spectacular",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files from the web process itself, compressed and cached for
    # good, so a deployment needs no separate file server for the CSS and JavaScript.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# -- database -------------------------------------------------------------------------

DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'lab.sqlite3'}",
    schemes={"sqlite", "postgres", "postgresql", "pgsql"},
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _sqlite_file = Path(DATABASES["default"]["NAME"])
    _sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    # Login sessions and API tokens live in this file: owner-only. SQLite creates its -wal and
    # -shm files with the main file's mode, so making the main file 0600 first covers all three.
    os.close(os.open(_sqlite_file, os.O_CREAT | os.O_RDWR, 0o600))
    _sqlite_file.chmod(0o600)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers (web pages) run while a worker writes; IMMEDIATE transactions
        # take the write lock up front, so concurrent writers queue on busy_timeout
        # instead of failing with "database is locked" half-way through.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Applied wherever a password is chosen: the rater sign-up form, the admin, changepassword.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# -- login throttling (django-axes) -----------------------------------------------------

# Axes' backend comes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Failures count per user name from one address: guessing one rater's password is stopped,
# while a lab behind one proxy address is not locked out whole by one forgetful rater.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Failures and lockouts are still logged; off silences only axes' banner on every command.
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `manage.py collectstatic` gathers the files here; WhiteNoise serves them from here.
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "staticfiles")
# WhiteNoise warns about a missing folder on every start; before collectstatic it is empty.
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # With DEBUG off, file names carry a hash of their content (served with a year-long cache
    # header) and so need collectstatic; with DEBUG on, files are found where they lie.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# -- HTTPS ------------------------------------------------------------------------------

# Off by default, so `make run` works over plain HTTP on loopback; a deployment behind an
# HTTPS proxy turns them on (README, "Deploying").
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The header the proxy sets to say the browser used HTTPS; only trustworthy when the proxy
# overwrites it on every request and the web server cannot be reached past the proxy.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads through the admin import form are streamed to disk, never held in memory whole,
# and no further than IMPORT_MAX_UPLOAD_BYTES (webapp/experiments/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "webapp.experiments.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
# Caps on preference imports (bytes): the uploaded file, its data after decompression (a small
# gzip can hold gigabytes) and one line of it. Each refusal names its setting.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 256 * 1024 * 1024, minimum=1)
IMPORT_MAX_DECOMPRESSED_BYTES = env_int("IMPORT_MAX_DECOMPRESSED_BYTES", 1024 * 1024 * 1024, minimum=1)
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 1024 * 1024, minimum=1)

# -- the lab --------------------------------------------------------------------------

# A folder, or an fsspec URL (s3://bucket/lab) that workers on several machines share.
ARTIFACT_ROOT = env_path("ARTIFACT_ROOT", VAR_DIR / "artifacts")
# Where models and runs are on this machine's disk: ARTIFACT_ROOT itself when it is a folder,
# else a local mirror of it (webapp/pipeline/artifacts.py), the same path on every machine.
ARTIFACT_LOCAL = (
    ARTIFACT_ROOT if "://" not in ARTIFACT_ROOT else env_path("ARTIFACT_LOCAL", VAR_DIR / "artifact-mirror")
)
if "://" in ARTIFACT_LOCAL:
    raise ImproperlyConfigured(f"ARTIFACT_LOCAL={ARTIFACT_LOCAL!r} must be a folder on this machine, not a URL")
# Checkpoints and outputs of pipeline runs, one folder per run.
RUNS_ROOT = env_path("RUNS_ROOT", Path(ARTIFACT_LOCAL) / "runs")
DEFAULT_MODEL_SPEC = env_str("DEFAULT_MODEL_SPEC", "smollm2-135m-instruct")
ALLOW_MODEL_DOWNLOAD = env_bool("ALLOW_MODEL_DOWNLOAD", False)
# Prices used to put the cost of AI labels beside the cost of the same number of human labels.
PRICE_PER_1K_TOKENS = env_float("PRICE_PER_1K_TOKENS", 0.0005, minimum=0.0)
PRICE_PER_HUMAN_LABEL = env_float("PRICE_PER_HUMAN_LABEL", 0.50, minimum=0.0)
# What a rater's hour costs: the cost report also prices human labels from the raters' measured
# active time per judgement (the paper's Appendix L compares both ways of pricing).
HUMAN_HOURLY_RATE = env_float("HUMAN_HOURLY_RATE", 15.0, minimum=0.0)
# A labeling run whose mean label mass (probability on the answers "1"/"2") is below this warns:
# the labeler is mostly not answering the question, so its soft labels rest on a sliver of its
# probability. 0.5 = less than half its probability goes to an answer at all.
LABEL_MASS_WARNING = env_float("LABEL_MASS_WARNING", 0.5, minimum=0.0)

# -- celery ---------------------------------------------------------------------------

CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    "filesystem://localhost/",  # the host is a placeholder: kombu warns when there is none
    schemes={"filesystem", "redis", "rediss", "amqp", "sqla+sqlite", "sqla+postgresql"},
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (control) exchanges; kombu's default is a folder in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Results live in the database rows the tasks update, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A stage goes to the queue stored with it (pipeline.kinds: `gpu` for labeling, training and
# sampling, one worker per device); everything else, recovery included, to `default`.
CELERY_TASK_DEFAULT_QUEUE = "default"
# A stage's message is acknowledged when the stage ends, and a worker takes one at a time:
# a stage is hours of work, and a message held in a prefetch buffer waits behind it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Longest a labeling, training or sampling stage may run (seconds) before it is stopped as failed.
PIPELINE_TIME_LIMIT = env_int("PIPELINE_TIME_LIMIT", 6 * 3600, minimum=60)
# Processes one training stage runs in on its worker: 1, N, or "auto" (one per GPU the worker
# sees). Above 1 the stage runs under torchrun, data-parallel (webapp/pipeline/launcher.py).
TRAINING_PROCESSES = env_processes("TRAINING_PROCESSES", 1)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message to another worker after this long: it must
    # outlast the longest stage, or a running stage's message is delivered twice (harmless
    # thanks to the claim, but a waste). A dead worker's stage is resent by pipeline.recover.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": PIPELINE_TIME_LIMIT + 600}
# Under `celery -A webapp beat`: resend stages left behind by a worker that died.
CELERY_BEAT_SCHEDULE = {"pipeline-recover": {"task": "pipeline.recover", "schedule": 60.0}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# -- rest framework ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

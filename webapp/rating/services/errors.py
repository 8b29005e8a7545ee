"""The rating services' refusals: each carries a message fit to show the rater and the HTTP status to answer with."""

from __future__ import annotations


class RatingError(Exception):
    """A refusal with a message fit to show the rater."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LeaseNotFound(RatingError):
    status = 404


class AlreadySubmitted(RatingError):
    status = 409


class LeaseLost(RatingError):
    status = 409


class RoundClosed(RatingError):
    status = 403


class InvalidJudgement(RatingError):
    status = 422


class InviteInvalid(RatingError):
    status = 410


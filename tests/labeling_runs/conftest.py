import pytest

from webapp.experiments import services
from webapp.experiments.models import Experiment


@pytest.fixture
def hh_experiment(db, hh_path):
    """The real HH harmless test pairs, imported into the experiment `hh` (test split)."""
    experiment = Experiment.objects.create(slug="hh", name="HH harmless", task="harmless")
    services.preferences_import(experiment=experiment, path=hh_path, fmt="hh", split="test")
    return experiment

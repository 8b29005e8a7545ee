"""``manage.py train_policy --algorithm`` offers exactly the pipeline's RL algorithms (ppo included).

The command takes its choices from pipeline.arms rather than importing pipeline.rl (which loads
torch); this keeps the two from drifting apart."""

from pipeline.rl import ALGORITHMS
from webapp.pipeline.management.commands.train_policy import Command


def test_the_algorithm_choices_are_the_pipelines():
    parser = Command().create_parser("manage.py", "train_policy")
    action = next(a for a in parser._actions if a.dest == "algorithm")
    assert sorted(action.choices) == sorted(ALGORITHMS) and "ppo" in action.choices
    assert parser.parse_args(["--experiment", "demo", "--arm", "rlaif", "--algorithm", "ppo"]).algorithm == "ppo"

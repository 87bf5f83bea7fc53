import pydantic
import pytest

from tasks.config import PipelineConfig
from tasks.overrides import apply_overrides


def test_defaults_are_the_reference_study() -> None:
    c = PipelineConfig()
    assert (c.train.look_back, c.train.units, c.train.epochs, c.train.batch_size) == (2, 4, 30, 3)
    assert (c.train.learning_rate, c.train.beta_1, c.train.beta_2) == (0.01, 0.9, 0.999)
    assert c.extract.threshold_pct == 10.0
    assert (c.series.target, c.series.driver, c.series.region) == ("confirmed", "asymptomatic", "all")


def test_config_is_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        PipelineConfig().train.epochs = 3  # type: ignore[misc]


def test_overrides_are_validated() -> None:
    c = apply_overrides(PipelineConfig(), {"train.epochs": 5, "extract.threshold_pct": "12.5"})
    assert c.train.epochs == 5
    assert c.extract.threshold_pct == 12.5
    with pytest.raises(ValueError, match=r"unknown config key .train\.epoch."):
        apply_overrides(PipelineConfig(), {"train.epoch": 5})
    with pytest.raises(ValueError, match="train is a section, not a value"):
        apply_overrides(PipelineConfig(), {"train": 5})
    with pytest.raises(ValueError, match=r"train\.epochs = 0: Input should be greater than or equal to 1"):
        apply_overrides(PipelineConfig(), {"train.epochs": 0})


def test_every_field_is_documented() -> None:
    def walk(model: type[pydantic.BaseModel]) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            if isinstance(field.annotation, type) and issubclass(field.annotation, pydantic.BaseModel):
                missing += walk(field.annotation)
        return missing

    assert walk(PipelineConfig) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.epochs": -1}, "train.epochs = -1: Input should be greater than or equal to 1"),
        ({"train.look_back": 0}, "train.look_back = 0: Input should be greater than or equal to 1"),
        ({"extract.threshold_pct": float("nan")}, "extract.threshold_pct = nan: Input should be a finite number"),
        ({"detect.mu_floor": float("inf")}, "detect.mu_floor = inf: Input should be a finite number"),
        ({"train.epochs": True}, "epochs = True: a boolean is not accepted as a number"),
        ({"series.target": "foo"}, "target = 'foo' is not a column of the data; use one of confirmed, asymptomatic"),
        ({"series.driver": "confirmed"}, "target and driver are both 'confirmed'; they must differ"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_rule(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        apply_overrides(PipelineConfig(), overrides)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_section_can_be_set_as_a_whole_and_is_merged() -> None:
    config = apply_overrides(PipelineConfig(), {"train": {"epochs": 1}})
    assert config.train.epochs == 1 and config.train.look_back == PipelineConfig().train.look_back


def test_configuration_docs_are_generated_from_the_config() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "config_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""The training config loader: presets, YAML files with a base, and errors that name the key."""

from __future__ import annotations

import pytest

from coin_core.config import TrainConfig, load_config, preset_names
from coin_core.errors import CoinError


def _write(tmp_path, text: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_presets_load_with_the_papers_loss_weights():
    assert {"small", "paper", "singla"} <= set(preset_names())
    paper = load_config("paper")
    assert isinstance(paper, TrainConfig) and paper.method == "coin"
    assert (paper.loss.adv, paper.loss.lambda_kl, paper.loss.lambda_minc) == ("bce", 5.0, 0.0)
    assert paper.loss.lambda_tv == pytest.approx(0.05 * 255**2)
    assert (paper.optim.lr, paper.optim.beta1, paper.optim.beta2) == (2e-4, 0.0, 0.999)
    assert paper.gan.gen_update_freq == 5 and paper.gan.batch_size == 16
    assert paper.model.input_size == 256 and load_config("small").model.input_size == 128
    singla = load_config("singla")
    assert singla.method == "singla" and singla.loss.lambda_tv == 0 and singla.loss.lambda_kl == 1


def test_to_dict_round_trips():
    cfg = load_config("singla")
    assert load_config(cfg.to_dict()) == cfg


def test_a_yaml_file_can_start_from_a_preset_and_override_nested_keys(tmp_path):
    path = _write(
        tmp_path, "base: small\nloss: {lambda_kl: 1.0e-6}\nmodel: {input_size: 64}\ngan: {max_steps: 7}\n"
    )
    cfg = load_config(path)
    assert cfg.loss.lambda_kl == 1e-6 and cfg.loss.lambda_adv == 1.0
    assert (
        cfg.model.input_size == 64 and cfg.model.encoder.widths == load_config("small").model.encoder.widths
    )
    assert cfg.gan.max_steps == 7


def test_yaml_floats_without_a_dot_are_accepted(tmp_path):
    # YAML 1.1 reads 1e-4 as a string; the loader still treats it as the number
    assert load_config(_write(tmp_path, "base: small\noptim: {lr: 1e-4}\n")).optim.lr == 1e-4


def test_a_misspelled_key_names_the_dotted_key_and_the_valid_ones(tmp_path):
    with pytest.raises(CoinError, match=r"'loss\.lamda_kl'") as err:
        load_config(_write(tmp_path, "base: small\nloss: {lamda_kl: 1.0}\n"))
    assert "lambda_kl" in str(err.value)
    with pytest.raises(CoinError, match=r"'model\.encoder\.widht'"):
        load_config("small", {"model.encoder.widht": [4]})
    with pytest.raises(CoinError, match=r"'gann'"):
        load_config("small", {"gann.batch_size": 4})


@pytest.mark.parametrize(
    ("key", "value", "pattern"),
    [
        ("gan.batch_size", "eight", r"'gan\.batch_size' must be of type int, got 'eight'"),
        ("gan.batch_size", 2.5, r"'gan\.batch_size' must be of type int"),
        ("loss.cyclic", "yes", r"'loss\.cyclic' must be of type bool"),
        ("optim.lr", "fast", r"'optim\.lr' must be of type float"),
        ("model.encoder.widths", 8, r"'model\.encoder\.widths' must be a list"),
    ],
)
def test_bad_types_name_the_key(key, value, pattern):
    with pytest.raises(CoinError, match=pattern):
        load_config("small", {key: value})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("optim.lr", 0.0),
        ("optim.beta1", 1.0),
        ("loss.lambda_kl", -1.0),
        ("gan.gen_update_freq", 0),
        ("seed", -3),
    ],
)
def test_out_of_range_values_name_the_key_and_the_range(key, value):
    with pytest.raises(CoinError, match=rf"'{key}' is {value}, outside the allowed range"):
        load_config("small", {key: value})


def test_an_unknown_adversarial_kind_lists_the_valid_ones():
    with pytest.raises(CoinError, match=r"'loss\.adv' is 'wgan'.*\n.*bce, mse, hinge"):
        load_config("small", {"loss.adv": "wgan"})
    with pytest.raises(CoinError, match=r"'method' is 'cyclegan'"):
        load_config("small", {"method": "cyclegan"})


def test_every_loss_weight_must_be_given(tmp_path):
    text = load_config("small").to_dict()
    del text["loss"]["lambda_tv"]
    with pytest.raises(CoinError, match=r"'loss\.lambda_tv' is missing"):
        load_config(text)


def test_an_impossible_architecture_is_refused_with_the_section_name():
    with pytest.raises(CoinError, match=r"'model'.*input_size 100"):
        load_config("small", {"model.input_size": 100})
    with pytest.raises(CoinError, match=r"'model\.preset'.*'huge'"):
        load_config("small", {"model.preset": "huge"})


def test_missing_files_and_broken_yaml_are_reported(tmp_path):
    with pytest.raises(CoinError, match="Config not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(CoinError, match="Cannot read config"):
        load_config(_write(tmp_path, "loss: [unclosed\n"))

"""Training protocols: shipped fields match the papers, overrides, errors."""

from __future__ import annotations

import pytest

from nasx.errors import ConfigError, UnknownNameError
from nasx.training import FIELDS, list_protocols, load_protocol, parse_overrides


def test_shipped_protocols_are_listed_and_cite_a_source():
    assert {"nb201", "darts", "quick"} <= set(list_protocols())
    for name in list_protocols():
        p = load_protocol(name)
        assert p.name == name and p.source
        assert set(p.fields()) == set(FIELDS)


def test_nb201_fields_are_nas_bench_201s_schedule():
    p = load_protocol("nb201")
    assert (p.optimizer, p.nesterov, p.momentum, p.lr, p.lr_min) == ("sgd", True, 0.9, 0.1, 0.0)
    assert (p.schedule, p.weight_decay, p.batch_size, p.epochs) == ("cosine", 5e-4, 256, 200)
    assert (p.crop_padding, p.flip, p.cutout, p.drop_path, p.auxiliary_weight) == \
        (4, True, 0, 0.0, 0.0)
    assert load_protocol("nb201", {"epochs": 12}).epochs == 12


def test_darts_fields_are_the_darts_evaluation_protocol():
    p = load_protocol("darts")
    assert dict(p.space_opts) == {"C": 36, "layers": 20, "auxiliary": True}
    assert (p.epochs, p.batch_size, p.lr, p.schedule, p.momentum) == \
        (600, 96, 0.025, "cosine", 0.9)
    assert (p.weight_decay, p.cutout, p.drop_path, p.auxiliary_weight, p.grad_clip) == \
        (3e-4, 16, 0.2, 0.4, 5.0)


def test_overrides_are_typed_and_recorded():
    p = load_protocol("quick", parse_overrides(["epochs=2", "lr=0.01", "flip=false",
                                                "space_opts={C: 8}"]))
    assert (p.epochs, p.lr, p.flip, dict(p.space_opts)) == (2, 0.01, False, {"C": 8})
    assert dict(p.overrides) == {"epochs": 2, "lr": 0.01, "flip": False,
                                 "space_opts": {"C": 8}}
    assert load_protocol(p).fields() == p.fields()  # a Protocol passes through


def test_unknown_field_lists_the_fields():
    with pytest.raises(ConfigError, match=r"unknown protocol field 'epoch'.*'epochs'.*fields: "
                       r"epochs, batch_size"):
        load_protocol("nb201", {"epoch": 3})


@pytest.mark.parametrize("over, msg", [({"epochs": 0}, "epochs must be"),
                                       ({"lr": "fast"}, "not a valid float"),
                                       ({"schedule": "step"}, "must be one of"),
                                       ({"drop_path": 1.0}, "drop_path"),
                                       ({"epochs": 2.5}, "not a valid int")])
def test_bad_values(over, msg):
    with pytest.raises(ConfigError, match=msg):
        load_protocol("quick", over)


def test_unknown_protocol_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'nb201'.*Shipped: darts"):
        load_protocol("nb210")


def test_user_yaml_with_base(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("# my schedule\nbase: nb201\nsource: mine\nepochs: 5\ncutout: 8\n")
    p = load_protocol(str(f))
    assert (p.name, p.source, p.epochs, p.cutout, p.lr) == ("mine", "mine", 5, 8, 0.1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 5\n")
    with pytest.raises(ConfigError, match="unknown protocol field 'epochz'"):
        load_protocol(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        load_protocol(str(tmp_path / "absent.yaml"))

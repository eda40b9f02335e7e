"""SpMVConfig: validation messages (one test each) and derived widths."""

import pytest

from hw.config import ConfigError, SpMVConfig, config_from_dict, config_to_dict


@pytest.mark.parametrize("field, value, message", [
    ("pes", 0, r"SpMVConfig.pes must be an int from 1 to 64, not 0"),
    ("pes", 4.0, r"SpMVConfig.pes must be an int from 1 to 64, not 4.0"),
    ("pes", True, r"SpMVConfig.pes must be an int from 1 to 64, not True"),
    ("act_width", 3, r"SpMVConfig.act_width must be an int from 4 to 32, not 3"),
    ("act_frac", 16, r"SpMVConfig.act_frac must be an int from 0 to 15, not 16"),
    ("codebook_width", 19, r"SpMVConfig.codebook_width must be an int from 2 to 18, not 19"),
    ("codebook_frac", -1, r"SpMVConfig.codebook_frac must be an int from 0 to 17, not -1"),
    ("bias_width", 1, r"SpMVConfig.bias_width must be an int from 2 to 32, not 1"),
    ("index_bits", 9, r"SpMVConfig.index_bits must be an int from 2 to 8, not 9"),
    ("fifo_depth", 0, r"SpMVConfig.fifo_depth must be an int from 1 to 256, not 0"),
    ("max_rows", 0, r"SpMVConfig.max_rows must be an int from 1 to 65536, not 0"),
    ("max_cols", 70000, r"SpMVConfig.max_cols must be an int from 1 to 65536, not 70000"),
    ("entry_depth", 0, r"SpMVConfig.entry_depth must be an int from 1 to 1048576, not 0"),
    ("relu", 1, r"SpMVConfig.relu must be a bool, not 1"),
    ("entry_memory", "lut", r"SpMVConfig.entry_memory must be one of 'block', 'spram', not 'lut'"),
    ("codebook_memory", "lut",
     r"SpMVConfig.codebook_memory must be one of 'registers', 'block', not 'lut'"),
    ("pointer_memory", "ebr",
     r"SpMVConfig.pointer_memory must be one of 'block', 'spram', not 'ebr'"),
    ("accumulator_memory", "spram",
     r"SpMVConfig.accumulator_memory must be one of 'auto', 'block', 'lut', not 'spram'"),
    ("column_queue_memory", "lut",
     r"SpMVConfig.column_queue_memory must be one of 'memory', 'registers', not 'lut'"),
])
def test_rejects_out_of_range_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        SpMVConfig(**{field: value})


def test_frozen():
    config = SpMVConfig()
    with pytest.raises(AttributeError):
        config.pes = 8


def test_accumulator_never_wraps_at_the_worst_case():
    config = SpMVConfig(act_width=8, act_frac=4, codebook_width=4, codebook_frac=2,
                         max_cols=16)
    worst = config.max_cols * (1 << (config.codebook_width - 1)) * (1 << (config.act_width - 1))
    assert worst <= (1 << (config.acc_width - 1)) - 1
    assert worst > (1 << (config.acc_width - 2)) - 1  # and it is not wider than needed


def test_derived_values():
    config = SpMVConfig(pes=8, max_rows=1000, max_cols=300, entry_depth=4096, index_bits=5)
    assert config.local_rows == 125
    assert config.local_row_bits == 7
    assert config.col_bits == 9
    assert config.pointer_width == 13
    assert config.entry_address_bits == 12
    assert config.entry_width == 9
    assert config.max_skip == 31


def test_round_trip_through_dict():
    config = SpMVConfig(pes=16, index_bits=6, relu=False)
    assert config_from_dict(config_to_dict(config)) == config


def test_from_dict_rejects_unknown_class():
    with pytest.raises(ConfigError, match=r"unknown config class 'Nope'"):
        config_from_dict({"class": "Nope"})


def test_from_dict_rejects_unknown_field():
    with pytest.raises(ConfigError, match=r"SpMVConfig has no field\(s\) \['colour'\]"):
        config_from_dict({"class": "SpMVConfig", "colour": 1})


def test_from_dict_needs_class_key():
    with pytest.raises(ConfigError, match=r"must be a dict with a 'class' key"):
        config_from_dict({"pes": 1})


def test_rejects_accumulator_wider_than_62_bits():
    with pytest.raises(ConfigError, match=r"accumulator of 66 bits \(act_width 32 \+ "
                                          r"codebook_width 18 \+ columns 65536\); at most 62"):
        SpMVConfig(act_width=32, codebook_width=18, max_cols=65536)


def test_pointers_in_spram_are_at_most_16_bits_wide():
    assert SpMVConfig(entry_depth=65535, pointer_memory="spram").pointer_width == 16
    with pytest.raises(ConfigError, match=r"SpMVConfig.pointer_memory 'spram' holds pointers of "
                                          r"at most 16 bits; entry_depth 65536 needs 17"):
        SpMVConfig(entry_depth=65536, pointer_memory="spram")


def test_memories_in_spram_need_the_model_from_the_link():
    from hw.config import SystemConfig

    spmv = SpMVConfig(pes=1, pointer_memory="spram")
    with pytest.raises(ConfigError, match=r"SystemConfig.spmv.pointer_memory 'spram' needs "
                                          r"preload_model=False"):
        SystemConfig(spmv=spmv)
    assert not SystemConfig(spmv=spmv, preload_model=False).preload_model

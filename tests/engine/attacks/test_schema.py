"""Parameter schema: every attack has the common options, with readable form labels."""

from medadv_desktop.engine.attacks import available, get_attack


def test_every_attack_offers_bn_folding_on_by_default_with_a_readable_label():
    for name in available():
        specs = {s.name: s for s in get_attack(name).schema()}
        fold = specs["fold_bn"]
        assert fold.kind == "bool" and fold.default is True
        assert fold.display_name == "fold BatchNorm"
        assert specs["early_stop"].display_name == "early stop"      # default: the name with spaces
